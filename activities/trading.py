"""trade (place and settle), trade-writer (`write_trade`), receipt-emailer (`send_receipt`) and
get-wallet (`get_wallet`): thin methods over the exchange, the trades table and the receipts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import temporal_errors
from activities.maker_first import ExecutionConfig, MakerFirstSteps, TradeLimits, _reused
from kripto.db.decisions import DecisionRepository
from kripto.db.trade_orders import TradeOrderRepository
from kripto.db.trades import TradeRepository
from kripto.errors import (
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidInput,
    NonRetryableError,
    NotPlaced,
    OrderRejected,
    OrderUnfilled,
    RetryableError,
)
from kripto.exchanges.base import Exchange, check_order
from kripto.flows.trade import PlacedOrder, PlaceOrderResult, TradeStep
from kripto.flows.wallet import WalletRequest
from kripto.metrics import Metrics
from kripto.models import Order, Side, TradeRequest, Wallet, currencies
from kripto.money import CURRENCY_SYMBOLS, fmt_money
from kripto.notify.events import Notify
from kripto.notify.messages import alert
from kripto.receipts import ReceiptService
from kripto.risk import PastTrade, spent_since
from kripto.trade_orders import TradeOrder

#: Attempts at the checks before a key is claimed (the wallet read, Postgres) before the trade
#: ends with nothing placed; once the key is claimed there is no limit.
PRE_CLAIM_ATTEMPTS = 20
#: A step retrying errors this long while its order may exist gets a warning in the log.
LONG_WAIT_SECONDS = 60.0
#: A wait this long is news for the phone too (once per trade and step), as it is an alert
#: (deploy/prometheus: KriptoTradeWaitingOnErrors).
ALERT_WAIT_SECONDS = 600.0


class TradeActivities(MakerFirstSteps):
    def __init__(
        self,
        exchange: Exchange,
        trades: TradeRepository,
        receipts: ReceiptService,
        limits: TradeLimits,
        metrics: Metrics | None = None,
        announce: Callable[[Notify], Awaitable[object]] | None = None,
        orders: TradeOrderRepository | None = None,
        execution: ExecutionConfig | None = None,
        maker_refused: str | None = None,
    ) -> None:
        """`announce` sends a notification (kripto.runtime.notify.notify with the worker's client
        and settings); None sends none."""
        self.exchange = exchange
        self.trades = trades
        self.orders = orders or TradeOrderRepository(trades.db)
        self.execution = execution or ExecutionConfig()
        #: Why maker orders are refused on this worker (its clock-skew check), or None.
        self.maker_refused = maker_refused
        self.receipts = receipts
        self.limits = limits
        self.metrics = metrics or Metrics.noop()
        self.announce = announce
        #: The waits already logged as long, and those already announced (once each).
        self._long_waits: set[tuple[str, str]] = set()
        self._announced: set[tuple[str, str]] = set()
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def _label(self) -> str:
        """`PAPER: ` (or `PAPER, SIMULATED prices: `) before a trade's log line; "" live."""
        label = getattr(self.receipts, "label", None)
        return f"{label}: " if label else ""

    def _check_limits(self, request: TradeRequest) -> None:
        """The rules that need settings; the payload's own rules were checked on decoding."""
        if request.product_id not in self.limits.products:
            raise InvalidInput(
                f"productId {request.product_id} is not traded here"
                f" (KRIPTO_PRODUCTS is {','.join(self.limits.products)})"
            )
        if request.amount > self.limits.max_trade_gbp:
            quote = currencies(request.product_id)[1]
            raise InvalidInput(
                f"amount {fmt_money(request.amount, quote)} is above the per-trade maximum of"
                f" {fmt_money(self.limits.max_trade_gbp, quote)} (KRIPTO_MAX_TRADE_GBP)"
            )

    async def _check_daily_limit(self, step: TradeStep) -> None:
        """A buy must fit in what is left of KRIPTO_DAILY_SPEND_LIMIT_GBP (the buys of the last
        24 hours in its quote currency, this trade's own row left out). A decision sized its buy
        to fit already; this holds every other start to the same limit."""
        limit, request = self.limits.daily_spend_limit_gbp, step.request
        if limit is None or request.trade_type is not Side.BUY:
            return
        quote = currencies(request.product_id)[1]
        day_ago = datetime.now(UTC) - timedelta(days=1)
        past = [
            PastTrade.of(order)
            for order in await self.trades.since(day_ago, quote=quote)
            if order.client_order_id != step.trade_id
        ]
        # And the trades decided on that have not claimed their keys yet (their reservations).
        for r in await DecisionRepository(self.trades.db).reservations(day_ago, quote=quote):
            if r.trade_id != step.trade_id:
                past.append(PastTrade(r.at, Side(r.action), r.amount, r.product_id))
        spent = spent_since(past, day_ago)
        if spent + request.amount > limit:
            raise InvalidInput(
                f"amount {fmt_money(request.amount, quote)} would pass the daily spend limit:"
                f" {fmt_money(spent, quote)} of {fmt_money(limit, quote)} spent in the last 24"
                " hours (KRIPTO_DAILY_SPEND_LIMIT_GBP)"
            )

    async def _check_funds(self, request: TradeRequest) -> None:
        """Before the key is claimed (and never after): the wallet has what the trade spends.
        This is also the first signed call, so bad credentials fail here, before any order.
        Worded as the paper exchange words its own refusal."""
        wallet = await self.exchange.wallet()
        base, quote = currencies(request.product_id)
        amount = fmt_money(request.amount, quote)
        if request.trade_type is Side.BUY:
            available = wallet.balance(quote).available
            if available < request.amount:
                raise InsufficientFunds(
                    f"insufficient funds: buying {amount} of {base} needs {amount} {quote}"
                    f" available, wallet has {fmt_money(available, quote)}"
                )
        elif wallet.balance(base).available <= 0:
            raise InsufficientFunds(
                f"insufficient funds: selling {amount} of {base} needs {base} available,"
                f" wallet has 0 {base}"
            )

    @activity.defn
    async def place_order(self, step: TradeStep) -> PlaceOrderResult:
        """Check once, claim the key, then place the order once.

        The checks (limits, product, funds, credentials) run only while the key is free; they
        fail the trade at once, and after `PRE_CLAIM_ATTEMPTS` failed attempts to run them the
        trade ends too (nothing was placed). Claiming the key puts the trade on the books in
        the same transaction, and from then on only the exchange's verdict ends it: a create
        refused before any order exists (the row and the claim go), or an order ended with
        nothing filled (the row goes). Every other failure is retried, however long.

        A trade recorded under the key, or an order already on the exchange under it, is
        returned as it is, so a retry, a re-run or a duplicate start places nothing; a key first
        used for a different trade is refused. `already_traded` says that an earlier run placed
        the order (only a first attempt can tell)."""
        request = step.request
        try:
            order = await self._place_order(step)
        except ApplicationError as err:
            if err.non_retryable:  # refused for good: the trade ends here
                self.metrics.trade_failed(request.trade_type.value, err.type or "ApplicationError")
                await self._end_reservation(step.trade_id)
            raise
        activity.logger.info("order %s placed: %s%s", order.id, self._label, _describe(order))
        return order

    async def _end_reservation(self, trade_id: str) -> None:
        """The trade failed before placing: its decision's reservation (if a decision started
        it) counts no more. Best effort: the trade's own failure is what must be reported (the
        reservation lapses by itself: kripto.db.decisions.RESERVATION_TTL)."""
        try:
            await DecisionRepository(self.trades.db).end_reservation(trade_id)
        except Exception as exc:
            activity.logger.warning("reservation of %s not ended: %s", trade_id, exc)

    async def _place_order(self, step: TradeStep) -> PlaceOrderResult:
        request = step.request
        attempt = activity.info().attempt
        with temporal_errors():
            first = await self._claim(step)
            if first is not None:
                raise _reused(step.trade_id, first.summary, request)
        activity.heartbeat("key claimed")
        with self._waiting("place", step.trade_id), temporal_errors():
            recorded = await self.trades.get(step.trade_id)
            placed_before = recorded is not None and recorded.id != ""
            if recorded is not None and recorded.settled:
                order = recorded
            else:
                order = await self._place_market(step)
                activity.heartbeat(order.id)
                await self.trades.placed(step.trade_id, order)
            if (order.side, order.product_id) != (request.trade_type, request.product_id):
                # An order from before keys were claimed: side and product are all it tells.
                raise _reused(
                    step.trade_id, f"an order {order.side.value} {order.product_id}", request
                )
            already_traded = placed_before and attempt == 1
            return PlaceOrderResult(**dict(order), already_traded=already_traded)

    async def _place_market(self, step: TradeStep) -> Order:
        """The market order under the trade's key, on the books (`trade_orders`) before it is
        sent. A refusal is the exchange's verdict that no order exists only when no earlier
        attempt sent the create: after one did (its reply lost, say) the order may exist though
        this attempt's look-up missed it, so the claim and the row stay and the look-up runs
        again on the next attempt."""
        request = step.request
        key = step.trade_id
        before = await self.orders.record(
            TradeOrder(
                client_order_id=key,
                trade_id=key,
                seq=1,
                kind="market",
                side=request.trade_type,
                product_id=request.product_id,
                funds=request.amount,
            )
        )
        sent_before = before.sent_at is not None or before.exchange_order_id is not None
        await self.orders.sending(
            key, limit_price=None, size=None, funds=request.amount, end_time=None
        )
        try:
            # The exchange looks the key up itself before placing (one lookup, not two); the
            # look-up pages, so the activity heartbeats beside it.
            async with heartbeating(f"looking up and placing {key}"):
                # A sell sized in coins sells those coins, never a GBP figure re-derived.
                by_size = request.trade_type is Side.SELL and request.base_size is not None
                order = await self.exchange.place_market_order(
                    client_order_id=key,
                    product_id=request.product_id,
                    side=request.trade_type,
                    amount=None if by_size else request.amount,
                    base_size=request.base_size if by_size else None,
                )
        except OrderUnfilled as exc:  # the exchange's verdict: the order ended unfilled
            await self.orders.update(key, status="cancelled", reason=str(exc))
            await self.trades.forget_unsettled(key)
            raise
        except NonRetryableError as exc:
            if sent_before:
                raise ExchangeUnavailable(
                    f"the exchange refused the create under {key} ({exc}), but an earlier"
                    " attempt sent it and its order may exist; looking it up again"
                ) from None
            # The exchange's verdict: refused, and no order exists under the key.
            await self.orders.update(key, status="refused", reason=str(exc))
            await self.trades.release(key)
            raise
        await self.orders.update(
            key,
            status="filled" if order.settled else "open",
            exchange_order_id=order.id,
            filled_size=order.filled_size,
            executed_value=order.executed_value,
            fill_fees=order.fill_fees,
        )
        return order

    async def _claim(self, step: TradeStep) -> TradeRequest | None:
        """The checks, then the claim, unless the key is claimed already: then they ran when
        it was claimed, and a live order is never refused over a setting changed since."""
        request = step.request
        first = await self.trades.claimed(step.trade_id)
        if first is not None:
            if not first.same_trade(request):
                return first
            return await self.trades.claim(step.trade_id, request)  # its row, if it had none
        try:
            self._check_limits(request)
            check_order(
                client_order_id=step.trade_id,
                product_id=request.product_id,
                side=request.trade_type,
                amount=request.amount,
            )
            await self._check_funds(request)
            await self._check_daily_limit(step)
        except RetryableError as exc:
            if activity.info().attempt >= PRE_CLAIM_ATTEMPTS:
                raise NotPlaced(
                    f"placing nothing: the checks before placing failed"
                    f" {PRE_CLAIM_ATTEMPTS} times; the last time: {exc}"
                ) from None
            raise
        return await self.trades.claim(step.trade_id, request)

    @contextmanager
    def _waiting(self, step: str, trade_id: str) -> Iterator[None]:
        """Count and log a step that keeps failing while its order may exist (it is retried
        for as long as it takes); the wait ends when the step succeeds or the exchange's
        verdict ends the trade."""
        try:
            yield
        except ApplicationError as err:
            if err.non_retryable:
                self.metrics.trade_wait_over(step, trade_id, time.time())
            else:
                self._waited(step, trade_id, str(err))
            raise
        except Exception as exc:  # Postgres down, a bug: Temporal retries these too
            self._waited(step, trade_id, f"{type(exc).__name__}: {exc}")
            raise
        self.metrics.trade_wait_over(step, trade_id, time.time())

    def _waited(self, step: str, trade_id: str, reason: str) -> None:
        info = activity.info()
        now = time.time()
        waited = self.metrics.trade_waiting(step, trade_id, info.scheduled_time.timestamp(), now)
        if waited >= LONG_WAIT_SECONDS and (step, trade_id) not in self._long_waits:
            self._long_waits.add((step, trade_id))
            activity.logger.warning(
                "trade %s: step %s has waited on errors for %ds (attempt %d); an order may"
                " exist, so it keeps retrying: %s",
                trade_id,
                step,
                waited,
                info.attempt,
                reason,
            )
        if waited >= ALERT_WAIT_SECONDS and (step, trade_id) not in self._announced:
            self._announced.add((step, trade_id))
            event = alert(
                f"waiting-{trade_id}-{step}",
                f"Trade {trade_id} has waited on errors for {int(waited // 60)} minutes",
                f"step {step}, attempt {info.attempt}: {reason}. An order may exist, so it keeps"
                " retrying; only the exchange's verdict ends it.",
            )
            # Not awaited: the attempt fails now, as it must; the notification is sent beside.
            task = asyncio.ensure_future(self._announce(event))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _announce(self, event: Notify) -> None:
        if self.announce is None:
            return
        try:
            await self.announce(event)
        except Exception as exc:  # news must never break the trade
            activity.logger.warning("notification %s not started: %s", event.key, exc)

    @activity.defn
    async def await_settlement(self, placed: PlacedOrder) -> Order:
        """Poll for one window and return the order, settled or not: the workflow keeps calling
        until it settles, so a placed order is never given up on. An order the exchange ended
        with nothing filled never became a trade: its unsettled row goes, and the trade fails.
        Every other failure (any HTTP error, 401/403 included, Postgres down) is retried."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.settle_window_seconds
        with self._waiting("settle", placed.trade_id), temporal_errors():
            while True:
                try:
                    order = await self.exchange.get_order(await self._order_id(placed))
                except OrderRejected:
                    await self.trades.forget_unsettled(placed.trade_id)
                    raise
                if order.settled or loop.time() >= deadline:
                    return order
                activity.heartbeat(order.id)
                await asyncio.sleep(self.limits.settle_poll_seconds)

    @activity.defn
    async def write_trade(self, placed: PlacedOrder) -> bool:
        """Record the settled order as the exchange has it (read again here rather than carried
        through the workflow's history a second time); False when the trade is recorded."""
        with self._waiting("record", placed.trade_id), temporal_errors():
            recorded = await self.trades.get(placed.trade_id)
            if recorded is not None and recorded.settled:
                return False
            order = await self.exchange.get_order(await self._order_id(placed))
            if not order.settled:
                raise RetryableError(f"order {placed.order_id} has not settled yet")
            recorded_now = await self.trades.insert(placed.trade_id, order)
        if recorded_now:  # once per trade, however often this step runs
            self.metrics.trade_done(order)
            activity.logger.info("trade recorded: %s%s", self._label, _describe(order))
        return recorded_now

    async def _order_id(self, placed: PlacedOrder) -> str:
        """The exchange's ID for the trade's order, from the step's input or, for a trade that
        a build before it passed only the key, by the key."""
        if placed.order_id is not None:
            return placed.order_id
        order = await self.exchange.find_order(placed.trade_id)
        if order is None:
            raise RetryableError(f"no order is on the exchange under {placed.trade_id} yet")
        return order.id

    @activity.defn
    async def send_receipt(self, placed: PlacedOrder) -> bool:
        """Receipt the trade as recorded by `write_trade` (the step before this one)."""
        try:
            with temporal_errors():
                order = await self.trades.get(placed.trade_id)
                if order is None:
                    raise InvalidInput(f"no trade is recorded under {placed.trade_id}")
                fills = await self.orders.fills(placed.trade_id)
                result = await self.receipts.send_once(placed.trade_id, order, fills)
        except ApplicationError as err:
            self.metrics.receipt("refused" if err.non_retryable else "failed")
            raise
        except Exception:
            self.metrics.receipt("failed")
            raise
        if result.sent_now:
            self.metrics.receipt("sent")
            activity.logger.info("receipt sent")
        else:
            activity.logger.info("receipt already sent")
        return result.sent_now

    @activity.defn
    async def get_wallet(self, request: WalletRequest) -> Wallet:
        with temporal_errors():
            return await self.exchange.wallet()


#: How often a step heartbeats while one exchange call (a paged look-up) runs.
HEARTBEAT_SECONDS = 5.0


@asynccontextmanager
async def heartbeating(doing: str) -> AsyncIterator[None]:
    """Heartbeat every HEARTBEAT_SECONDS while the body runs: a look-up that pages through the
    exchange's orders takes many requests, each up to its timeout, and must not be mistaken
    for a dead worker."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            activity.heartbeat(doing)

    task = asyncio.ensure_future(beat())
    try:
        yield
    finally:
        task.cancel()


def _describe(order: Order) -> str:
    """One log line's worth: `buy BTC-GBP £10.00: 0.00012 BTC for £9.95, fees £0.05, settled`."""
    state = "settled" if order.settled else "not settled yet"
    base, quote = currencies(order.product_id)
    return (
        f"{order.side.value} {order.product_id} {_in(order.funds, quote)}:"
        f" {order.filled_size} {base} for {_in(order.executed_value, quote)},"
        f" fees {_in(order.fill_fees, quote)}, {state}"
    )


def _in(amount: Decimal, currency: str) -> str:
    """Every digit, with the currency's symbol (`£9.9502205952`) or code (`9.95 USDC`)."""
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"
