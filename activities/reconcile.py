"""The reconciler's steps: compare the exchange with the books, and receipt what it found."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio import activity

from activities.errors import temporal_errors
from kripto.db.monitoring import open_differences
from kripto.db.reconcile import ReconcileRepository
from kripto.db.trade_orders import TradeOrderRepository
from kripto.db.trades import TradeRepository
from kripto.errors import InvalidInput, OrderUnfilled
from kripto.exchanges.base import Exchange
from kripto.metrics import Metrics
from kripto.models import (
    PlacedOrder,
    ReconcileBalance,
    ReconcileDifference,
    ReconcileReport,
    ReconcileStep,
)
from kripto.receipts import ReceiptService
from kripto.reconcile import (
    Difference,
    DifferenceKind,
    balance_difference,
    compare_balances,
    compare_orders,
    merge_by_trade,
    order_key,
    unknown_to_exchange,
    unsettled,
)


@dataclass(frozen=True)
class ReconcilePolicy:
    lookback: timedelta
    grace: timedelta


class ReconcileActivities:
    def __init__(
        self,
        exchange: Exchange,
        books: ReconcileRepository,
        trades: TradeRepository,
        receipts: ReceiptService,
        policy: ReconcilePolicy,
        metrics: Metrics | None = None,
    ) -> None:
        self.exchange = exchange
        self.books = books
        self.trades = trades
        self.receipts = receipts
        self.policy = policy
        self.metrics = metrics or Metrics.noop()

    @activity.defn
    async def reconcile(self, step: ReconcileStep) -> ReconcileReport:
        """List the exchange's orders and fills for the period, compare them and the wallet with
        the books, record what the books miss, flag the rest. Running it again records nothing
        twice: a recorded order is on the books the next time."""
        with temporal_errors():
            return await self._reconcile(step)

    async def _reconcile(self, step: ReconcileStep) -> ReconcileReport:
        until = step.until or datetime.now(UTC)
        since = step.since or until - self.policy.lookback
        if since >= until:
            raise InvalidInput(
                f"since {since:%Y-%m-%d %H:%M:%S}Z must be before the period's end,"
                f" {until:%Y-%m-%d %H:%M:%S}Z"
            )
        # A maker-first trade's orders (`<key>`, `<key>-2`, ...) are attributed to it.
        listed = await self.exchange.list_orders(since, until)
        trade_of = await TradeOrderRepository(self.books.db).trade_of(order_key(o) for o in listed)
        orders = merge_by_trade(listed, trade_of)
        books = await self.books.books(since, until, [order_key(o) for o in orders])
        now = datetime.now(UTC)
        comparison = compare_orders(orders, books, now=now, grace=self.policy.grace)
        differences = list(comparison.differences)
        recorded: list[str] = []
        completed: list[str] = []
        closed: list[str] = []
        notes: list[str] = []
        for order in comparison.to_record:
            if await self.books.record_found(order):
                recorded.append(order_key(order))
                self.metrics.reconcile_found()
        for order in comparison.to_complete:
            if await self.books.complete(order):
                completed.append(order_key(order))
        for book in comparison.stale:
            differences.append(unsettled(book, now))
        for book in comparison.unlisted:
            # Not in the period's list: its order may predate the period, or have ended with
            # nothing filled (the list leaves those out). Ask by key.
            try:
                found = await self.exchange.find_order(book.trade_id)
            except OrderUnfilled as exc:
                if book.settled:
                    differences.append(
                        Difference(
                            DifferenceKind.MISMATCH,
                            book.trade_id,
                            f"settled on the books; the exchange ended its order with nothing"
                            f" filled ({exc})",
                            books=book.executed_value,
                            exchange=Decimal(0),
                        )
                    )
                elif await self.books.close_unfilled(book.trade_id, str(exc)):
                    closed.append(book.trade_id)
                    notes.append(f"closed {book.trade_id} as unfilled: {exc}")
                continue
            if found is None:
                if not await self._derived(book.trade_id):  # a maker-first trade's later order
                    differences.append(unknown_to_exchange(book))
            elif not book.settled and found.settled:
                if await self.books.complete(found):
                    completed.append(book.trade_id)
            elif not book.settled and book.found_by_reconciler:
                await self.books.record_found(found)  # resting: its figures so far
            elif not book.settled:
                differences.append(unsettled(book, now, found))
        abandoned = await self.books.abandoned(completed)
        for key in completed:
            why = f" (abandoned: {abandoned[key]})" if key in abandoned else ""
            notes.append(f"completed {key} from its order, settled on the exchange{why}")

        wallet = (await self.exchange.wallet()).balances()
        taken_at = datetime.now(UTC)
        actual = {c: b.balance for c, b in wallet.items()}
        baselines = await self.books.baselines()
        oldest = min((b.taken_at for b in baselines.values()), default=taken_at)
        traded = await self.books.balance_trades(oldest)
        young = [
            t
            for t in traded
            if not t.settled and not t.found_by_reconciler and now - t.at < self.policy.grace
        ]
        if step.rebase is not None:
            if comparison.in_flight or young:
                waiting = sorted(set(comparison.in_flight) | {t.trade_id for t in young})
                raise InvalidInput(
                    f"--rebase: {len(waiting)} trade(s) still on their way"
                    f" ({', '.join(waiting)}); rebase once they have settled"
                )
            previous = await self.books.rebase(actual, taken_at, step.rebase.by, step.rebase.reason)
            for currency, balance in sorted(actual.items()):
                was = previous.get(currency)
                notes.append(
                    f"rebased {currency}: {was if was is not None else 'none'} -> {balance}"
                    f" ({step.rebase.reason}; {step.rebase.by})"
                )
            baselines = await self.books.baselines()
            traded = await self.books.balance_trades(taken_at)
        checks = compare_balances(
            actual,
            baselines,
            traded,
            in_flight=len(comparison.in_flight),
            now=now,
            grace=self.policy.grace,
        )
        if comparison.in_flight or any(not t.settled for t in traded):
            # Balances in motion: no baseline is taken from them.
            checks = [
                c if c.currency in baselines else replace(c, note="no baseline yet") for c in checks
            ]
        else:
            await self.books.take_baselines(
                {c.currency: c.exchange for c in checks if c.currency not in baselines}, taken_at
            )
        differences += [balance_difference(c) for c in checks if c.differs]

        for note in notes:
            activity.logger.info("reconciler: %s", note)
        first_seen = await self.books.save_differences(differences, now, since)
        self._report(differences)
        self.metrics.reconcile_differences(await open_differences(self.books.db))
        return ReconcileReport(
            since=since,
            until=until,
            exchange=self.exchange.name,
            orders_on_exchange=len(orders),
            trades_on_books=sum(1 for b in books if b.has_row),
            recorded=recorded,
            to_receipt=await self.books.found_without_receipt(),
            in_flight=sorted(comparison.in_flight),
            completed=completed,
            closed=closed,
            notes=notes,
            differences=[
                ReconcileDifference(
                    kind=d.kind.value,
                    subject=d.subject,
                    detail=d.detail,
                    books=d.books,
                    exchange=d.exchange,
                    first_seen=first_seen.get((d.kind.value, d.subject)),
                )
                for d in differences
            ],
            balances=[
                ReconcileBalance(
                    currency=c.currency, books=c.books, exchange=c.exchange, note=c.note
                )
                for c in checks
            ],
        )

    async def _derived(self, trade_id: str) -> list[str]:
        """The client order IDs of a maker-first trade's later orders that the exchange knows
        (`<key>-2`, ...): its first order may have been refused, or ended unfilled."""
        known = []
        for row in await TradeOrderRepository(self.books.db).of_trade(trade_id):
            if row.seq > 1 and row.exchange_order_id is not None:
                found = await self.exchange.find_order(row.client_order_id, allow_unfilled=True)
                if found is not None:
                    known.append(row.client_order_id)
        return known

    def _report(self, differences: list[Difference]) -> None:
        """One log line per difference."""
        for d in differences:
            activity.logger.warning("books differ: %s %s: %s", d.kind.value, d.subject, d.detail)
        self.metrics.reconciled()
        if not differences:
            activity.logger.info("books match the exchange")

    @activity.defn
    async def send_found_receipt(self, placed: PlacedOrder) -> bool:
        """Receipt a trade the reconciler put on the books, once (the receipts row's key)."""
        with temporal_errors():
            order = await self.trades.get(placed.trade_id)
            if order is None:
                raise InvalidInput(f"no trade is recorded under {placed.trade_id}")
            result = await self.receipts.send_once(placed.trade_id, order)
        if result.sent_now:
            self.metrics.receipt("sent")
            activity.logger.info("receipt sent for %s, found by the reconciler", placed.trade_id)
        return result.sent_now
