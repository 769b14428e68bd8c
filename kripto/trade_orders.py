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

from kripto.models import Money, Side, UtcDateTime, Wire

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
