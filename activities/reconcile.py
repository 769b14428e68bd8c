"""The reconciler's steps: compare the exchange with the books, and receipt what it found."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from temporalio import activity

from activities.errors import temporal_errors
from kripto.db.monitoring import open_differences
from kripto.db.reconcile import ReconcileRepository
from kripto.db.trades import TradeRepository
from kripto.errors import InvalidInput
from kripto.exchanges.base import Exchange
from kripto.flows.reconcile import (
    ReconcileBalance,
    ReconcileDifference,
    ReconcileReport,
    ReconcileStep,
)
from kripto.flows.trade import PlacedOrder
from kripto.metrics import Metrics
from kripto.receipts import ReceiptService
from kripto.reconcile import (
    Difference,
    balance_difference,
    compare_balances,
    compare_orders,
    order_key,
    unknown_to_exchange,
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
        orders = await self.exchange.list_orders(since, until)
        books = await self.books.books(since, until, [order_key(o) for o in orders])
        now = datetime.now(UTC)
        comparison = compare_orders(orders, books, now=now, grace=self.policy.grace)
        differences = list(comparison.differences)
        recorded = []
        for order in comparison.to_record:
            if await self.books.record_found(order):
                recorded.append(order_key(order))
                self.metrics.reconcile_found()
        for book in comparison.unlisted:
            # Not in the period's list: its order may predate the period. Ask by key.
            if await self.exchange.find_order(book.trade_id) is None:
                differences.append(unknown_to_exchange(book))

        wallet = (await self.exchange.wallet()).balances()
        taken_at = datetime.now(UTC)
        actual = {c: b.balance for c, b in wallet.items()}
        baselines = await self.books.baselines()
        oldest = min((b.taken_at for b in baselines.values()), default=taken_at)
        traded = await self.books.balance_trades(oldest)
        checks = compare_balances(actual, baselines, traded, in_flight=len(comparison.in_flight))
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

        await self.books.save_differences(differences, now, since)
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
            differences=[
                ReconcileDifference(
                    kind=d.kind.value,
                    subject=d.subject,
                    detail=d.detail,
                    books=d.books,
                    exchange=d.exchange,
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
