"""A trade's orders and fills, with no I/O: the client order IDs a trade uses, what its orders
have filled so far, and the figures people read (maker share, blended fee rate).

A trade is one request (buy £X, sell £X) and one or more orders: under maker-first execution a
post-only limit order, perhaps re-quoted, then perhaps a taker order for the remainder; under
taker execution one market order. Order N of a trade has the client order ID `<key>` for the
first and `<key>-N` after, and is on the books (`trade_orders`) before it is sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Literal

from pydantic import Field

from kripto.models import Money, Side, TradeRequest, UtcDateTime, Wire

OrderKind = Literal["market", "maker", "taker"]
OrderStatus = Literal["recorded", "open", "filled", "cancelled", "expired", "crossed", "refused"]
Liquidity = Literal["maker", "taker"]
#: Statuses an order never leaves.
ENDED: frozenset[str] = frozenset({"filled", "cancelled", "expired", "crossed", "refused"})


def client_order_id(trade_id: str, seq: int) -> str:
    """The client order ID of a trade's order number `seq` (from 1): `<key>`, `<key>-2`, ..."""
    if seq < 1:
        raise ValueError(f"an order's number starts at 1, not {seq}")
    return trade_id if seq == 1 else f"{trade_id}-{seq}"


class TradeOrder(Wire):
    """One order of a trade as the books have it."""

    client_order_id: str
    trade_id: str
    seq: int = Field(ge=1)
    kind: OrderKind
    side: Side
    product_id: str
    limit_price: Money | None = None
    size: Money | None = None
    funds: Money | None = None
    end_time: UtcDateTime | None = None
    exchange_order_id: str | None = None
    status: OrderStatus = "recorded"
    reason: str | None = None
    filled_size: Money = Decimal(0)
    executed_value: Money = Decimal(0)
    fill_fees: Money = Decimal(0)
    recorded_at: UtcDateTime | None = None
    sent_at: UtcDateTime | None = None
    ended_at: UtcDateTime | None = None

    @property
    def ended(self) -> bool:
        return self.status in ENDED


class TradeFill(Wire):
    """One fill of one of a trade's orders."""

    fill_id: str
    client_order_id: str
    trade_id: str
    exchange_order_id: str
    price: Money
    size: Money
    fee: Money
    liquidity: Liquidity
    filled_at: UtcDateTime

    @property
    def value(self) -> Decimal:
        return self.price * self.size


class Totals(Wire):
    """What a trade's orders filled in all."""

    filled_size: Money = Decimal(0)
    executed_value: Money = Decimal(0)
    fill_fees: Money = Decimal(0)

    @property
    def spent(self) -> Decimal:
        """A buy's cost, fees included (what its amount caps)."""
        return self.executed_value + self.fill_fees


def totals(orders: Iterable[TradeOrder]) -> Totals:
    size = value = fees = Decimal(0)
    for order in orders:
        size += order.filled_size
        value += order.executed_value
        fees += order.fill_fees
    return Totals(filled_size=size, executed_value=value, fill_fees=fees)


def maker_share(fills: Sequence[TradeFill]) -> Decimal | None:
    """The share of the filled value that was maker, 0 to 1; None when nothing filled."""
    value = sum((f.value for f in fills), Decimal(0))
    if value == 0:
        return None
    return sum((f.value for f in fills if f.liquidity == "maker"), Decimal(0)) / value


def blended_fee_rate(executed_value: Decimal, fill_fees: Decimal) -> Decimal | None:
    """Fees as a share of the value traded; None when nothing filled."""
    return None if executed_value == 0 else fill_fees / executed_value


def liquidity_label(fills: Sequence[TradeFill]) -> str:
    """`maker`, `taker`, `mixed (62% maker)`, or `` for a trade with no fills recorded."""
    share = maker_share(fills)
    if share is None:
        return ""
    if share == 1:
        return "maker"
    if share == 0:
        return "taker"
    return f"mixed ({share * 100:.0f}% maker)"


def fmt_rate_pct(rate: Decimal | None) -> str:
    """A fee rate as a percentage to two places: `0.60%`."""
    return "n/a" if rate is None else f"{rate * 100:.2f}%"


# -- the maker-first steps' inputs and results (they travel through Temporal) ---------------

ExecutionName = Literal["maker_first", "taker"]
#: What a maker-first step found: an order resting (`open`), ended (`filled`, `cancelled`,
#: `expired`), refused (`crossed`: a post-only that would have taken; `refused`: for any other
#: reason), no order placed because the quote is stale or unreadable (`stale`) or because what
#: is left is below the product's minimum (`done`).
StepStatus = Literal[
    "open", "filled", "cancelled", "expired", "crossed", "refused", "stale", "done"
]


class TradePlan(Wire):
    """`prepare_trade`'s result: the key is claimed, and how the trade's orders go out. The
    settings are read once, here, and recorded in the trade's history, so a setting changed
    mid-trade (or a worker with other settings) never changes a trade already under way."""

    execution: ExecutionName
    #: A decision's trade (a child of the decider) or a person's.
    by_decision: bool = False
    maker_only: bool = False
    window_seconds: float = 120.0
    #: How often a resting order is looked at (and the touch read) while it rests.
    check_seconds: float = 15.0
    requote_after: Money = Decimal("0.0005")
    max_requotes: int = 3
    #: The taker fallback's cap as a fraction from the touch; None: a market order.
    max_slippage: Money | None = Decimal("0.005")
    #: A decision's remainder when the window ends: `taker` or `skip`.
    fallback: Literal["taker", "skip"] = "taker"
    #: A stale or unreadable quote: `taker` (capped) or `hold` (place nothing).
    stale_quote: Literal["taker", "hold"] = "taker"
    #: Why maker orders are refused on this worker (clock skew), or None.
    maker_refused: str | None = None
    #: A sell's coins: the request's own, or its amount at the touch when the trade began,
    #: capped at the coins held. Never re-derived later; None for a buy.
    target_size: Money | None = None
    #: The trade is recorded already (an earlier run finished it): place nothing.
    already_traded: bool = False


class MakerInput(Wire):
    """A maker-first step's input: the trade, its plan, and which order (from 1)."""

    trade_id: str
    request: TradeRequest
    plan: TradePlan
    seq: int = Field(ge=1)
    #: The maker window's end: the order's GTD end time.
    end_time: UtcDateTime | None = None
    #: The order this step looks at or cancels (its exchange ID), when there is one.
    order_id: str | None = None
    #: The price the order rests at, for telling how far the touch has moved away.
    limit_price: Money | None = None


class StepResult(Wire):
    """What a step found, with the order's figures so far and the touch when it was read."""

    seq: int
    client_order_id: str
    status: StepStatus
    kind: OrderKind = "maker"
    order_id: str | None = None
    limit_price: Money | None = None
    size: Money | None = None
    filled_size: Money = Decimal(0)
    executed_value: Money = Decimal(0)
    fill_fees: Money = Decimal(0)
    #: The touch on the order's side when the step read it.
    touch: Money | None = None
    #: The touch has moved away from the order's price by more than KRIPTO_REQUOTE_AFTER.
    moved_away: bool = False
    reason: str | None = None

    @property
    def live(self) -> bool:
        return self.status == "open"


class PrepareInput(Wire):
    """`prepare_trade`'s input: the trade, and what its starter chose."""

    trade_id: str
    request: TradeRequest
    by_decision: bool = False
    #: `--taker` / `--maker-only` (the starter's memo); None: the worker's KRIPTO_EXECUTION.
    execution: ExecutionName | None = None
    maker_only: bool = False


class FinishInput(Wire):
    """`finish_trade`'s input: the trade and what the steps noted on the way (a skipped
    remainder, a stale quote held, maker orders refused), for the books and the receipt."""

    trade_id: str
    request: TradeRequest
    outcome: str | None = None
