"""The maker-first steps of a trade (docs/execution.md), as activities of TradeActivities:
prepare (checks, claim, plan), place a post-only order at the touch, look at it, cancel it
(and confirm), place the taker remainder, and finish (the trade's row from its orders).

Each step is idempotent on its order's client order ID (`<key>`, `<key>-2`, ...): the order is
on the books (`trade_orders`) before it is sent, the exchange is asked for it by that ID before
anything is placed, and a step that finds its order ended returns it as it ended. A step never
places an order while an earlier order of the trade may be live: it brings each earlier one to
its end first (cancelling it, and confirming the cancel or its fill)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import temporal_errors
from kripto.errors import (
    ExchangeUnavailable,
    InsufficientFunds,
    KeyReused,
    KriptoError,
    NonRetryableError,
    OrderUnfilled,
    PostOnlyWouldCross,
)
from kripto.execution import (
    Execution,
    MakerFallback,
    ProductRules,
    Quote,
    StaleQuote,
    base_size_for,
    client_order_id,
)
from kripto.models import Order, OrderStatus, Side, TradeRequest, TradeStep, currencies
from kripto.money import PENNY
from kripto.trade_orders import (
    FinishInput,
    MakerInput,
    OrderKind,
    PrepareInput,
    StepResult,
    TradeFill,
    TradeOrder,
    TradePlan,
    totals,
)
from kripto.trade_orders import OrderStatus as RowStatus

if TYPE_CHECKING:
    from kripto.db.trade_orders import TradeOrderRepository
    from kripto.db.trades import TradeRepository
    from kripto.exchanges.base import Exchange
    from kripto.metrics import Metrics


@dataclass(frozen=True)
class TradeLimits:
    max_trade_gbp: Decimal
    products: tuple[str, ...]
    settle_poll_seconds: float = 2.0
    #: Every buy, however it was started (a decision, a person, or a client of Temporal's
    #: directly), is held to it before its key is claimed (docs/security.md). None: not checked.
    daily_spend_limit_gbp: Decimal | None = None
    #: The fee a maker order is sized for (a buy's size * price * (1 + fee) stays within its
    #: amount): the account's maker rate (KRIPTO_FEE_TIER / KRIPTO_FEE_RATE).
    maker_fee: Decimal = Decimal("0.006")

    @property
    def settle_window_seconds(self) -> float:
        """How long one `await_settlement` call polls before it reports back to the workflow,
        which calls again: a slow settlement is many short activities, not one that times out."""
        return min(30 * self.settle_poll_seconds, 60.0)


@dataclass(frozen=True)
class ExecutionConfig:
    """How trades' orders go out (KRIPTO_EXECUTION and the maker-first settings); a trade reads
    them once, in `prepare_trade`, into its plan."""

    execution: Execution = Execution.MAKER_FIRST
    maker_window: timedelta = timedelta(minutes=2)
    requote_after: Decimal = Decimal("0.0005")
    max_requotes: int = 3
    max_slippage: Decimal | None = Decimal("0.005")
    maker_fallback: MakerFallback = MakerFallback.TAKER
    quote_max_age: timedelta = timedelta(seconds=5)
    stale_quote: StaleQuote = StaleQuote.TAKER
    #: How often a resting maker order is looked at while it rests (a durable timer between).
    check_every: timedelta = timedelta(seconds=15)


def _reused(trade_id: str, first: str, request: TradeRequest) -> KeyReused:
    return KeyReused(f"key {trade_id} was used for {first}; this request is {request.summary}")


#: A maker order whose window ends within this long is not placed: it would expire at once.
MIN_WINDOW_LEFT = timedelta(seconds=5)


def row_status(order: Order) -> RowStatus:
    """The books' status of an order as the exchange has it."""
    status = order.status
    if status is None:  # an older build's order: market, and settled once it filled
        return "filled" if order.settled else "open"
    if status in (OrderStatus.PENDING, OrderStatus.OPEN):
        return "open"
    if status is OrderStatus.FILLED:
        return "filled"
    if status is OrderStatus.EXPIRED:
        return "expired"
    return "cancelled"  # CANCELLED, FAILED: whatever filled stays filled


class MakerFirstSteps:
    """Mixed into TradeActivities, which provides these."""

    exchange: Exchange
    trades: TradeRepository
    orders: TradeOrderRepository
    limits: TradeLimits
    execution: ExecutionConfig
    metrics: Metrics
    #: Why maker orders are refused on this worker (its clock-skew check), or None.
    maker_refused: str | None

    if TYPE_CHECKING:

        async def _claim(self, step: TradeStep) -> TradeRequest | None: ...

        def _waiting(self, step: str, trade_id: str) -> AbstractContextManager[None]: ...

    # -- prepare ---------------------------------------------------------------------------

    @activity.defn
    async def prepare_trade(self, inp: PrepareInput) -> TradePlan:
        """The checks and the claim (as `place_order` does them), then the plan: the execution
        and its settings, read once, and a sell's coins fixed at the touch."""
        try:
            return await self._prepare(inp)
        except ApplicationError as err:
            if err.non_retryable:  # refused for good: the trade ends here
                side = inp.request.trade_type.value
                self.metrics.trade_failed(side, err.type or "ApplicationError")
            raise

    async def _prepare(self, inp: PrepareInput) -> TradePlan:
        step = TradeStep(trade_id=inp.trade_id, request=inp.request)
        request = inp.request
        with temporal_errors():
            first = await self._claim(step)
            if first is not None:
                raise _reused(inp.trade_id, first.summary, request)
        activity.heartbeat("key claimed")
        config = self.execution
        execution = inp.execution or config.execution.value
        plan = TradePlan(
            execution="taker" if execution == Execution.TAKER.value else "maker_first",
            by_decision=inp.by_decision,
            maker_only=inp.maker_only and not inp.by_decision,
            window_seconds=config.maker_window.total_seconds(),
            check_seconds=config.check_every.total_seconds(),
            requote_after=config.requote_after,
            max_requotes=config.max_requotes,
            max_slippage=config.max_slippage,
            fallback="skip" if config.maker_fallback.value == "skip" else "taker",
            stale_quote="hold" if config.stale_quote.value == "hold" else "taker",
            maker_refused=self.maker_refused,
        )
        with self._waiting("place", inp.trade_id), temporal_errors():
            recorded = await self.trades.get(inp.trade_id)
            if recorded is not None and recorded.settled:
                return plan.model_copy(update={"already_traded": True})
            if plan.execution == "taker" or request.trade_type is Side.BUY:
                return plan
            rows = await self.orders.of_trade(inp.trade_id)
            target: Decimal | None
            if rows and rows[0].kind == "maker" and rows[0].size is not None:
                target = rows[0].size  # fixed when the first order went out
            else:
                target = await self._sell_target(request)
        return plan.model_copy(update={"target_size": target})

    async def _sell_target(self, request: TradeRequest) -> Decimal | None:
        """The coins a sell sells: the request's own, or its amount at the best ask, capped at
        the coins held and rounded down to the base increment; None without a usable quote
        (the trade then goes by the stale-quote setting)."""
        rules = await self.exchange.product_rules(request.product_id)
        base = currencies(request.product_id)[0]
        held = (await self.exchange.wallet()).balance(base).available
        if request.base_size is not None:
            wanted = request.base_size
        else:
            quote = await self._quote(request.product_id)
            if isinstance(quote, str):
                return None
            wanted = request.amount / quote.touch(Side.SELL)
        size = rules.round_size(min(wanted, held))
        if size <= 0:
            raise InsufficientFunds(
                f"insufficient funds: selling {request.summary} needs {base} available,"
                f" wallet has {held} {base}"
            )
        return size

    # -- the quote -------------------------------------------------------------------------

    async def _quote(self, product_id: str) -> Quote | str:
        """The best bid and ask now, or why there is none to use (unreadable, or older than
        KRIPTO_QUOTE_MAX_AGE)."""
        try:
            quotes = await self.exchange.best_bid_ask([product_id])
        except KriptoError as exc:
            return f"the best bid/ask could not be read: {exc}"
        quote = quotes.get(product_id)
        if quote is None:
            return f"the exchange gives no best bid/ask for {product_id}"
        now = datetime.now(UTC)
        if quote.is_stale(now, self.execution.quote_max_age):
            age = quote.age(now).total_seconds()
            return (
                f"the best bid/ask is {age:.1f}s old (KRIPTO_QUOTE_MAX_AGE is"
                f" {self.execution.quote_max_age.total_seconds():g}s)"
            )
        return quote

    # -- the orders --------------------------------------------------------------------------

    async def _record(self, cid: str, order: Order) -> TradeOrder:
        """Write the order's state (and, once it has ended, its fills) on the books."""
        status = row_status(order)
        await self.orders.update(
            cid,
            status=status,
            exchange_order_id=order.id,
            filled_size=order.filled_size,
            executed_value=order.executed_value,
            fill_fees=order.fill_fees,
            reason=order.note,
        )
        row = await self.orders.get(cid)
        assert row is not None
        if row.ended and order.filled_size > 0:
            await self._record_fills(row)
        return row

    async def _record_fills(self, row: TradeOrder) -> None:
        assert row.exchange_order_id is not None
        fills = await self.exchange.fills(row.exchange_order_id)
        await self.orders.record_fills(
            [
                TradeFill(
                    fill_id=f.trade_id,
                    client_order_id=row.client_order_id,
                    trade_id=row.trade_id,
                    exchange_order_id=row.exchange_order_id,
                    price=f.price,
                    size=f.size,
                    fee=f.fee,
                    liquidity=f.liquidity.value,
                    filled_at=f.time,
                )
                for f in fills
            ]
        )

    async def _end(self, row: TradeOrder) -> TradeOrder:
        """Bring an order of the trade to its end: cancel it if it may rest, and confirm the
        cancel (or the fill that beat it)."""
        if row.ended:
            return row
        if row.exchange_order_id is None:
            found = await self.exchange.find_order(row.client_order_id, allow_unfilled=True)
            if found is None:
                if row.sent_at is None:
                    await self.orders.update(
                        row.client_order_id, status="refused", reason="never sent"
                    )
                    again = await self.orders.get(row.client_order_id)
                    assert again is not None
                    return again
                raise ExchangeUnavailable(
                    f"order {row.client_order_id} was sent and is not on the exchange yet;"
                    " looking again before anything else is placed"
                )
            row = await self._record(row.client_order_id, found)
            if row.ended:
                return row
        assert row.exchange_order_id is not None
        order = await self.exchange.cancel_order(row.exchange_order_id)
        return await self._record(row.client_order_id, order)

    async def _end_others(self, trade_id: str, seq: int) -> list[TradeOrder]:
        """End every order of the trade but number `seq`; returns all its orders' rows."""
        rows = await self.orders.of_trade(trade_id)
        ended = []
        for row in rows:
            if row.seq != seq and not row.ended:
                row = await self._end(row)
            ended.append(row)
        return ended

    def _remaining(self, inp: MakerInput, rows: list[TradeOrder]) -> Decimal:
        """What is left to trade: GBP of a buy (fees included), coins of a sell."""
        done = totals(r for r in rows if r.seq != inp.seq)
        if inp.request.trade_type is Side.BUY:
            return inp.request.amount - done.spent
        target = inp.plan.target_size
        assert target is not None, "a maker-first sell has its coins fixed by prepare_trade"
        return target - done.filled_size

    @staticmethod
    def _result(row: TradeOrder, **extra: object) -> StepResult:
        status = row.status if row.status != "recorded" else "open"
        return StepResult.model_validate(
            {
                "seq": row.seq,
                "client_order_id": row.client_order_id,
                "status": status,
                "kind": row.kind,
                "order_id": row.exchange_order_id,
                "limit_price": row.limit_price,
                "size": row.size,
                "filled_size": row.filled_size,
                "executed_value": row.executed_value,
                "fill_fees": row.fill_fees,
                "reason": row.reason,
            }
            | extra
        )

    async def _placed_before(self, cid: str) -> StepResult | None:
        """The step's own order when an earlier attempt got as far as the exchange's answer."""
        row = await self.orders.get(cid)
        if row is None:
            return None
        if row.ended:
            return self._result(row)
        if row.exchange_order_id is not None:
            order = await self.exchange.get_order(row.exchange_order_id, allow_unfilled=True)
            return self._result(await self._record(cid, order))
        return None

    @staticmethod
    def _too_small(rules: ProductRules, size: Decimal, price: Decimal) -> bool:
        return size <= 0 or size < rules.base_min_size or size * price < rules.quote_min_size

    @activity.defn
    async def place_maker(self, inp: MakerInput) -> StepResult:
        """Place order number `seq` of the trade: post-only, at the touch (the best bid for a
        buy, the best ask for a sell), for what is left, ending at the window's end (GTD), so
        the exchange cancels it by itself even if Kripto never comes back."""
        request = inp.request
        side = request.trade_type
        cid = client_order_id(inp.trade_id, inp.seq)
        with self._waiting("place", inp.trade_id), temporal_errors():
            before = await self._placed_before(cid)
            if before is not None:
                return before
            rows = await self._end_others(inp.trade_id, inp.seq)
            assert inp.end_time is not None
            if inp.end_time - datetime.now(UTC) < MIN_WINDOW_LEFT:
                return StepResult(
                    seq=inp.seq,
                    client_order_id=cid,
                    status="expired",
                    reason="the maker window ended before the order went out",
                )
            rules = await self.exchange.product_rules(request.product_id)
            remaining = self._remaining(inp, rows)
            quote = await self._quote(request.product_id)
            if isinstance(quote, str):
                return StepResult(seq=inp.seq, client_order_id=cid, status="stale", reason=quote)
            touch = quote.touch(side)
            price = rules.round_price(touch, side)
            if side is Side.BUY:
                size = base_size_for(remaining, price, self.limits.maker_fee, rules)
            else:
                size = rules.round_size(remaining)
            if self._too_small(rules, size, price):
                return StepResult(
                    seq=inp.seq,
                    client_order_id=cid,
                    status="done",
                    touch=touch,
                    reason=f"what is left ({size}) is below the exchange's minimum",
                )
            row = await self.orders.record(
                TradeOrder(
                    client_order_id=cid,
                    trade_id=inp.trade_id,
                    seq=inp.seq,
                    kind="maker",
                    side=side,
                    product_id=request.product_id,
                    limit_price=price,
                    size=size,
                    end_time=inp.end_time,
                )
            )
            sent_before = row.sent_at is not None
            await self.orders.sending(
                cid, limit_price=price, size=size, funds=None, end_time=inp.end_time
            )
            try:
                order = await self.exchange.place_post_only(
                    client_order_id=cid,
                    product_id=request.product_id,
                    side=side,
                    base_size=size,
                    limit_price=price,
                    end_time=inp.end_time,
                )
            except NonRetryableError as exc:
                if sent_before:  # an earlier attempt's order may exist: no verdict on it
                    raise ExchangeUnavailable(
                        f"the exchange refused {cid} ({exc}), but an earlier attempt sent it"
                        " and its order may exist; looking it up again"
                    ) from None
                crossed = isinstance(exc, PostOnlyWouldCross)
                status: RowStatus = "crossed" if crossed else "refused"
                await self.orders.update(cid, status=status, reason=str(exc))
                activity.logger.info("maker order %s %s: %s", cid, status, exc)
                return StepResult(
                    seq=inp.seq,
                    client_order_id=cid,
                    status=status,
                    limit_price=price,
                    size=size,
                    touch=touch,
                    reason=str(exc),
                )
            row = await self._record(cid, order)
        activity.logger.info("maker order %s: %s at %s, %s", cid, size, price, row.status)
        return self._result(row, touch=touch)

    @activity.defn
    async def check_maker(self, inp: MakerInput) -> StepResult:
        """The resting order as the exchange has it now, and whether the touch has moved away
        from its price by more than KRIPTO_REQUOTE_AFTER (a buy's best bid above it, a sell's
        best ask below it)."""
        cid = client_order_id(inp.trade_id, inp.seq)
        assert inp.order_id is not None
        with self._waiting("settle", inp.trade_id), temporal_errors():
            order = await self.exchange.get_order(inp.order_id, allow_unfilled=True)
            row = await self._record(cid, order)
            if row.ended:
                return self._result(row)
            quote = await self._quote(inp.request.product_id)
        if isinstance(quote, str) or row.limit_price is None:
            return self._result(row)
        touch = quote.touch(inp.request.trade_type)
        limit = row.limit_price
        threshold = limit * inp.plan.requote_after
        if inp.request.trade_type is Side.BUY:
            moved = touch - limit > threshold
        else:
            moved = limit - touch > threshold
        return self._result(row, touch=touch, moved_away=moved)

    @activity.defn
    async def cancel_maker(self, inp: MakerInput) -> StepResult:
        """Cancel the order and confirm it: its state after the cancel, which may be filled
        (the cancel lost a race with a fill) or partly filled."""
        cid = client_order_id(inp.trade_id, inp.seq)
        with self._waiting("cancel", inp.trade_id), temporal_errors():
            row = await self.orders.get(cid)
            if row is None:  # never recorded: nothing was placed under it
                return StepResult(seq=inp.seq, client_order_id=cid, status="cancelled")
            row = await self._end(row)
        return self._result(row)

    @activity.defn
    async def place_taker(self, inp: MakerInput) -> StepResult:
        """The remainder as a taker order: an IOC limit capped at KRIPTO_MAX_SLIPPAGE from the
        touch (the best ask for a buy, the best bid for a sell), or a market order when the cap
        is off. Without a usable quote, the cap is taken from `limit_price` (the last touch
        seen), and with none at all the order is a market order."""
        request = inp.request
        side = request.trade_type
        cid = client_order_id(inp.trade_id, inp.seq)
        with self._waiting("place", inp.trade_id), temporal_errors():
            before = await self._placed_before(cid)
            if before is not None:
                return before
            rows = await self._end_others(inp.trade_id, inp.seq)
            rules = await self.exchange.product_rules(request.product_id)
            first_sell_by_amount = side is Side.SELL and inp.plan.target_size is None
            remaining = request.amount if first_sell_by_amount else self._remaining(inp, rows)
            quote = await self._quote(request.product_id)
            reference = quote.far_touch(side) if not isinstance(quote, str) else inp.limit_price
            slippage = inp.plan.max_slippage
            cap: Decimal | None = None
            if slippage is not None and reference is not None:
                raw = reference * (1 + slippage) if side is Side.BUY else reference * (1 - slippage)
                cap = rules.round_price(raw, side)
            price = cap or reference or Decimal(1)
            if side is Side.BUY or first_sell_by_amount:
                funds = remaining.quantize(PENNY, rounding=ROUND_DOWN)
                size = None
                if funds <= 0 or (reference is not None and funds < rules.quote_min_size):
                    return self._nothing_left(inp, cid, str(funds))
            else:
                size, funds = rules.round_size(remaining), None
                if self._too_small(rules, size, price):
                    return self._nothing_left(inp, cid, str(size))
            kind: OrderKind = "taker"
            row = await self.orders.record(
                TradeOrder(
                    client_order_id=cid,
                    trade_id=inp.trade_id,
                    seq=inp.seq,
                    kind=kind,
                    side=side,
                    product_id=request.product_id,
                    limit_price=cap,
                    size=size,
                    funds=funds,
                )
            )
            sent_before = row.sent_at is not None
            await self.orders.sending(cid, limit_price=cap, size=size, funds=funds, end_time=None)
            try:
                if cap is not None:
                    order = await self.exchange.place_ioc_limit(
                        client_order_id=cid,
                        product_id=request.product_id,
                        side=side,
                        limit_price=cap,
                        base_size=size,
                        quote_size=funds,
                    )
                else:
                    order = await self.exchange.place_market_order(
                        client_order_id=cid,
                        product_id=request.product_id,
                        side=side,
                        amount=funds,
                        base_size=size,
                    )
            except OrderUnfilled as exc:  # a market order that found nothing to take
                await self.orders.update(cid, status="cancelled", reason=str(exc))
                return StepResult(
                    seq=inp.seq, client_order_id=cid, status="cancelled", kind="taker"
                )
            except NonRetryableError as exc:
                if sent_before:
                    raise ExchangeUnavailable(
                        f"the exchange refused {cid} ({exc}), but an earlier attempt sent it"
                        " and its order may exist; looking it up again"
                    ) from None
                await self.orders.update(cid, status="refused", reason=str(exc))
                return StepResult(
                    seq=inp.seq,
                    client_order_id=cid,
                    status="refused",
                    kind="taker",
                    reason=str(exc),
                )
            row = await self._record(cid, order)
        return self._result(row)

    @staticmethod
    def _nothing_left(inp: MakerInput, cid: str, left: str) -> StepResult:
        return StepResult(
            seq=inp.seq,
            client_order_id=cid,
            status="done",
            kind="taker",
            reason=f"what is left ({left}) is below the exchange's minimum",
        )

    @activity.defn
    async def check_taker(self, inp: MakerInput) -> StepResult:
        """A taker order's state now (a market order may take a moment to settle)."""
        cid = client_order_id(inp.trade_id, inp.seq)
        assert inp.order_id is not None
        with self._waiting("settle", inp.trade_id), temporal_errors():
            order = await self.exchange.get_order(inp.order_id, allow_unfilled=True)
            row = await self._record(cid, order)
        return self._result(row)

    # -- finish ------------------------------------------------------------------------------

    @activity.defn
    async def finish_trade(self, inp: FinishInput) -> Order:
        """Every order of the trade ended (any still resting is cancelled and confirmed), its
        fills on the books, and the trade's row completed from them: one trade, its figures the
        sum of its orders'. A trade whose orders filled nothing ends here with the reason."""
        key = inp.trade_id
        with self._waiting("record", key), temporal_errors():
            recorded = await self.trades.get(key)
            if recorded is not None and recorded.settled:
                return recorded
            rows = await self._end_others(key, 0)
            for row in rows:
                if row.filled_size > 0 and row.exchange_order_id is not None:
                    await self._record_fills(row)
            done = totals(rows)
            filled = [r for r in rows if r.filled_size > 0]
            if not filled:
                await self.trades.forget_unsettled(key)
                why = inp.outcome or "its orders ended with nothing filled"
                raise OrderUnfilled(f"trade {key} placed nothing that filled: {why}")
            first = filled[0]
            times = [t for r in rows for t in (r.sent_at or r.recorded_at,) if t is not None]
            started = min(times, default=datetime.now(UTC))
            order = Order(
                id=first.exchange_order_id or "",
                side=inp.request.trade_type,
                product_id=inp.request.product_id,
                funds=inp.request.amount,
                settled=True,
                created_at=started,
                fill_fees=done.fill_fees,
                filled_size=done.filled_size,
                executed_value=done.executed_value,
                client_order_id=key,
                note=inp.outcome,
            )
            recorded_now = await self.trades.insert(key, order)
            await self.trades.set_execution(key, "maker_first", inp.outcome)
            fills = await self.orders.fills(key)
        if recorded_now:
            maker = sum((f.value for f in fills if f.liquidity == "maker"), Decimal(0))
            taker = sum((f.value for f in fills if f.liquidity == "taker"), Decimal(0))
            last = max((f.filled_at for f in fills), default=None)
            seconds = (last - started).total_seconds() if last is not None else None
            self.metrics.trade_done(order)
            self.metrics.trade_filled("maker_first", maker, taker, seconds)
            for _ in range(max(0, sum(r.kind == "maker" for r in rows) - 1)):
                self.metrics.requoted()
            if any(r.kind == "taker" for r in rows):
                self.metrics.fell_back("taker")
            elif inp.outcome and "skipped" in inp.outcome:
                self.metrics.fell_back("skip")
            activity.logger.info("trade %s recorded from %d order(s)", key, len(rows))
        return order
