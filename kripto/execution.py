"""Maker-first execution: the choices, and what an exchange answers about prices, fills and
products (issue 23). Domain only: no I/O.

- `Execution`: how a trade's orders go to the exchange (KRIPTO_EXECUTION).
- `Quote`: the best bid and ask of a product at one moment (`Exchange.best_bid_ask`).
- `Fill`: one fill of an order, with its own price, size, fee and liquidity (`Exchange.fills`).
- `ProductRules`: a product's increments, minimum sizes and trading status
  (`Exchange.product_rules`); sizes and prices are rounded *down* to its increments.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from enum import StrEnum

from pydantic import Field

from kripto.models import Money, ProductId, Side, UtcDateTime, Wire


class Execution(StrEnum):
    """KRIPTO_EXECUTION: a post-only limit order at the touch first, or a market order."""

    MAKER_FIRST = "maker_first"
    TAKER = "taker"


class MakerFallback(StrEnum):
    """KRIPTO_MAKER_FALLBACK: what a decision's unfilled remainder does when the maker window
    ends: goes as a taker order (capped by KRIPTO_MAX_SLIPPAGE), or is dropped with a reason.
    A person's trade always falls back to taker unless they chose `--maker-only`."""

    TAKER = "taker"
    SKIP = "skip"


class StaleQuote(StrEnum):
    """KRIPTO_STALE_QUOTE: what a trade does when the best bid/ask cannot be read or is older
    than KRIPTO_QUOTE_MAX_AGE: a taker order with the cap, or hold (place nothing)."""

    TAKER = "taker"
    HOLD = "hold"


class Liquidity(StrEnum):
    """Whether a fill rested on the book (maker) or took from it (taker)."""

    MAKER = "maker"
    TAKER = "taker"


class Quote(Wire):
    """A product's best bid and ask at `time` (the exchange's time of the book, when it gives
    one; else when it was read)."""

    product_id: ProductId
    bid: Money = Field(gt=0)
    ask: Money = Field(gt=0)
    time: UtcDateTime
    bid_size: Money | None = None
    ask_size: Money | None = None

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    @property
    def spread(self) -> Decimal:
        return self.ask - self.bid

    def touch(self, side: Side | str) -> Decimal:
        """Where a maker order rests: the best bid for a buy, the best ask for a sell."""
        return self.bid if Side(side) is Side.BUY else self.ask

    def far_touch(self, side: Side | str) -> Decimal:
        """What a taker order pays: the best ask for a buy, the best bid for a sell."""
        return self.ask if Side(side) is Side.BUY else self.bid

    def age(self, now: datetime) -> timedelta:
        return now - self.time

    def is_stale(self, now: datetime, max_age: timedelta) -> bool:
        return self.age(now) > max_age


class Fill(Wire):
    """One fill of an order. `size` is in the base currency (BTC), `price` and `fee` in the
    quote currency (GBP); `value` = price * size, before the fee."""

    trade_id: str
    order_id: str
    product_id: ProductId
    side: Side
    price: Money = Field(gt=0)
    size: Money = Field(gt=0)
    fee: Money = Field(ge=0)
    liquidity: Liquidity
    time: UtcDateTime

    @property
    def value(self) -> Decimal:
        return self.price * self.size


class ProductRules(Wire):
    """What the exchange allows for a product. Sizes (base, BTC) are multiples of
    `base_increment`, prices (quote, GBP) multiples of `quote_increment` (Coinbase's
    `price_increment`, which for BTC-GBP equals its quote increment)."""

    product_id: ProductId
    base_increment: Money = Field(gt=0)
    quote_increment: Money = Field(gt=0)
    base_min_size: Money = Field(ge=0)
    base_max_size: Money | None = None
    quote_min_size: Money = Field(Decimal(0), ge=0)
    trading_disabled: bool = False
    #: Only post-only limit orders are accepted (market orders are refused).
    post_only: bool = False
    #: Only limit orders are accepted.
    limit_only: bool = False
    #: Only cancels are accepted: no new orders.
    cancel_only: bool = False
    #: Coinbase's status text (`online`, `offline`, `delisted`, ...).
    status: str = "online"

    def round_size(self, size: Decimal) -> Decimal:
        """Down to a whole base increment: never more coins than asked for or held."""
        return _down(size, self.base_increment)

    def round_price(self, price: Decimal, side: Side | str) -> Decimal:
        """To a whole quote increment, on the maker's safe side: a buy's price down, a sell's
        up, so a price at the touch never crosses it."""
        if Side(side) is Side.BUY:
            return _down(price, self.quote_increment)
        return (price / self.quote_increment).to_integral_value(
            rounding=ROUND_UP
        ) * self.quote_increment

    def round_quote(self, amount: Decimal) -> Decimal:
        """A quote amount (GBP) down to a whole quote increment."""
        return _down(amount, self.quote_increment)

    def why_not(self, *, size: Decimal, price: Decimal, market: bool = False) -> str | None:
        """Why an order of `size` at `price` would be refused, in Coinbase's words; None when
        it may be placed."""
        if self.trading_disabled or self.status.lower() not in ("online", ""):
            return f"{self.product_id} is not trading (status {self.status})"
        if self.cancel_only:
            return f"{self.product_id} is in cancel-only mode"
        if market and (self.limit_only or self.post_only):
            mode = "post-only" if self.post_only else "limit-only"
            return f"{self.product_id} is in {mode} mode: market orders are refused"
        if size < self.base_min_size:
            return f"INVALID_SIZE: {size} is below the minimum size {self.base_min_size}"
        if self.base_max_size is not None and size > self.base_max_size:
            return f"INVALID_SIZE: {size} is above the maximum size {self.base_max_size}"
        if size * price < self.quote_min_size:
            return f"INVALID_SIZE: {size * price} is below the minimum value {self.quote_min_size}"
        return None


def _down(value: Decimal, increment: Decimal) -> Decimal:
    return (value / increment).to_integral_value(rounding=ROUND_DOWN) * increment


def base_size_for(
    amount: Decimal, price: Decimal, fee_rate: Decimal, rules: ProductRules
) -> Decimal:
    """The coins a buy of `amount` (GBP, fee included) can take at `price`: the largest whole
    base increment with size * price * (1 + fee) ≤ amount. Never spends more than `amount`."""
    return rules.round_size(amount / (price * (1 + fee_rate)))


def client_order_id(trade_key: str, attempt: int) -> str:
    """The client order ID of a trade's `attempt`th order: `<key>` for the first, then
    `<key>-2`, `<key>-3`, ... (re-quotes and the taker remainder)."""
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, not {attempt}")
    return trade_key if attempt == 1 else f"{trade_key}-{attempt}"


def clock_skew_problem(server: datetime, local: datetime, limit: timedelta) -> str | None:
    """A clear line when the local clock differs from the exchange's by more than `limit`
    (KRIPTO_MAX_CLOCK_SKEW): a maker order's end time would be wrong. None when within it."""
    skew = local - server
    if abs(skew) <= limit:
        return None
    ahead = "ahead of" if skew > timedelta(0) else "behind"
    return (
        f"this machine's clock is {abs(skew).total_seconds():.1f}s {ahead} the exchange's"
        f" (KRIPTO_MAX_CLOCK_SKEW is {limit.total_seconds():g}s): maker orders are refused"
        " until the clock is fixed (sync it with NTP)"
    )
