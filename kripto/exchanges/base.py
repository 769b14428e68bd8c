"""The exchange protocol that the trade activities call.

Every implementation is idempotent on `client_order_id` (the trade's workflow ID): placing an
order under a key that already has one returns that order and places nothing.

Amounts are GBP for buys and sells alike, as in the original system, except that a sell may
be sized in coins (`base_size`): a whole-position exit sells the coins held, never a GBP figure
turned back into coins at a later price. Limit orders (issue 23, maker-first) are sized in coins.
Sizes are rounded *down* to the product's base increment, prices to its quote increment on the
maker's side (`ProductRules`). Errors are
`kripto.errors` types: InsufficientFunds, OrderRejected, BadCredentials and InvalidInput are
final; RetryableError (429, 5xx, timeouts, dropped connections) may pass on a retry. Messages
say what happened in words a person understands, and never contain a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

from kripto.errors import ClockSkewed, InsufficientFunds, InvalidInput
from kripto.execution import Fill, ProductRules, Quote, clock_skew_problem
from kripto.models import Order, Side, Wallet, check_product, currencies
from kripto.money import fmt_money, fmt_size


@runtime_checkable
class Exchange(Protocol):
    name: str

    async def find_order(
        self, client_order_id: str, *, allow_unfilled: bool = False
    ) -> Order | None:
        """The order placed under this key, or None if there is none. An order that ended
        (cancelled, expired, failed) with nothing filled raises OrderUnfilled, unless
        `allow_unfilled`: then it is returned with its `status` and `filled_size` 0 (what the
        maker-first steps want: an expired maker order is a step, not a failed trade)."""
        ...

    async def place_market_order(
        self,
        *,
        client_order_id: str,
        product_id: str,
        side: Side,
        amount: Decimal | None = None,
        base_size: Decimal | None = None,
    ) -> Order:
        """Place a market order (`market_market_ioc`), or return the one already under this
        key (placing nothing). Exactly one of:
        - `amount`: GBP (the quote currency). A buy spends it, fees included. A sell of £X sells
          X / (the price when the order arrives) coins, rounded down to the base increment; if
          that is more than the available balance, it sells the available balance instead and
          says so in `Order.note` (not InsufficientFunds).
        - `base_size`: coins, for a sell only (a buy sized in coins is InvalidInput). Capped at
          the available balance and rounded down to the base increment; a cap shows in
          `Order.note`. Never re-derived from GBP.
        Nothing left to sell after the cap and rounding is InsufficientFunds."""
        ...

    async def place_post_only(
        self,
        *,
        client_order_id: str,
        product_id: str,
        side: Side,
        base_size: Decimal,
        limit_price: Decimal,
        end_time: datetime,
    ) -> Order:
        """Place a post-only limit order that rests until `end_time` (`limit_limit_gtd`,
        `post_only: true`), or return the one already under this key (placing nothing, whatever
        its state). `base_size` is rounded down to the base increment and `limit_price` to the
        quote increment (a buy's down, a sell's up); a sell's size is capped at the available
        balance (`Order.note` says so). Returns the order as placed: usually OPEN with nothing
        filled (`status`, `limit_price`, `end_time`, `base_size` set).

        Refusals (nothing placed, final): PostOnlyWouldCross when the price would take liquidity
        (a buy at or above the best ask, a sell at or below the best bid; Coinbase's
        INVALID_LIMIT_PRICE_POST_ONLY); InsufficientFunds; OrderRejected for any other reason
        (size below the minimum, product not trading, end time in the past), its message
        Coinbase's reason. RetryableError/ExchangeUnavailable as for market orders."""
        ...

    async def place_ioc_limit(
        self,
        *,
        client_order_id: str,
        product_id: str,
        side: Side,
        limit_price: Decimal,
        base_size: Decimal | None = None,
        quote_size: Decimal | None = None,
    ) -> Order:
        """Place an immediate-or-cancel limit order (`sor_limit_ioc`): it takes what the book
        offers at `limit_price` or better (a buy at most it, a sell at least it) and cancels the
        rest at once. Exactly one of `base_size` (coins; rounded down, a sell capped at the
        balance) or `quote_size` (GBP to spend, fees included, a buy only). Idempotent on
        `client_order_id`. Returns the order once the exchange has ended it: FILLED, or
        CANCELLED/EXPIRED with what filled (possibly nothing; this does NOT raise OrderUnfilled:
        the caller reads `filled_size`). Refusals as place_post_only, without the cross."""
        ...

    async def get_order(self, order_id: str, *, allow_unfilled: bool = False) -> Order:
        """The order's current state; `settled` may be False until it settles. An order that
        ended with nothing filled raises OrderUnfilled unless `allow_unfilled` (then returned
        with its status). A resting limit order is OPEN, with `filled_size` so far."""
        ...

    async def cancel_order(self, order_id: str) -> Order:
        """Cancel an order (`POST /orders/batch_cancel` with one ID) and return its state after
        the cancel, read back from the exchange: CANCELLED (with whatever filled before the
        cancel, possibly in part) or, when the cancel lost a race with a fill, FILLED. An order
        already final (filled, expired, cancelled) is returned as it is: cancelling is
        idempotent and never raises for a final order. Never raises OrderUnfilled. The returned
        order is final (`status.final`); the next order of the trade may be placed only after
        this returns."""
        ...

    async def fills(self, order_id: str) -> list[Fill]:
        """Every fill of the order so far, oldest first (`GET /orders/historical/fills`), each
        with its price, size (coins), fee and liquidity (maker/taker). Empty for an order with
        nothing filled. Their sizes sum to the order's `filled_size`, their fees to its
        `fill_fees`."""
        ...

    async def best_bid_ask(self, product_ids: Sequence[str]) -> dict[str, Quote]:
        """The best bid and ask of every product asked for, in ONE request
        (`GET /best_bid_ask?product_ids=…`). A product the exchange gives no two-sided book for
        is missing from the result (the caller treats it as unquoted). RetryableError on 429,
        5xx and timeouts; BadCredentials on 401/403. On paper: the feed's current price with
        KRIPTO_PAPER_SPREAD around it."""
        ...

    async def product_rules(self, product_id: str) -> ProductRules:
        """The product's increments, minimum sizes and trading status (`GET /products/{id}`),
        cached per exchange instance for its lifetime (they change rarely)."""
        ...

    async def server_time(self) -> datetime:
        """The exchange's clock (`GET /time`), UTC; for the clock-skew check before maker
        orders (`check_clock_skew`). On paper: this machine's clock."""
        ...

    async def list_orders(self, start: datetime, end: datetime) -> list[Order]:
        """Every order created or filled in [start, end] that is, or may become, a trade (an
        order that ended with nothing filled is left out), each once, for the reconciler to
        match by client order ID."""
        ...

    async def wallet(self) -> Wallet:
        """GBP and BTC balances: balance = available + hold."""
        ...

    async def close(self) -> None: ...


def check_amount(amount: Decimal) -> None:
    """A trade amount must be a finite, positive number of pounds."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise InvalidInput(f"the amount must be a positive number of pounds, not {amount}")


def check_order(*, client_order_id: str, product_id: str, side: Side, amount: Decimal) -> Side:
    """What every exchange checks before it places anything; returns the side as a `Side`."""
    if not client_order_id:
        raise InvalidInput("a client order ID is required")
    check_amount(amount)
    try:
        check_product(product_id)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return Side(side)


def _common(client_order_id: str, product_id: str, side: Side | str) -> Side:
    if not client_order_id:
        raise InvalidInput("a client order ID is required")
    try:
        check_product(product_id)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    try:
        return Side(side)
    except ValueError:
        raise InvalidInput(f"the side must be buy or sell, not {side!r}") from None


def check_market(
    *,
    client_order_id: str,
    product_id: str,
    side: Side | str,
    amount: Decimal | None,
    base_size: Decimal | None,
) -> Side:
    """A market order: exactly one of `amount` (GBP) or `base_size` (coins, sells only)."""
    side = _common(client_order_id, product_id, side)
    if (amount is None) == (base_size is None):
        raise InvalidInput("a market order takes exactly one of amount (GBP) or base_size (coins)")
    if amount is not None:
        check_amount(amount)
    else:
        assert base_size is not None
        if side is Side.BUY:
            raise InvalidInput("a market buy is sized in GBP (amount), not in coins (base_size)")
        check_size(base_size, "base_size")
    return side


def check_limit(
    *,
    client_order_id: str,
    product_id: str,
    side: Side | str,
    base_size: Decimal,
    limit_price: Decimal,
) -> Side:
    side = _common(client_order_id, product_id, side)
    check_size(base_size, "base_size")
    check_price(limit_price)
    return side


def check_ioc(
    *,
    client_order_id: str,
    product_id: str,
    side: Side | str,
    limit_price: Decimal,
    base_size: Decimal | None,
    quote_size: Decimal | None,
) -> Side:
    side = _common(client_order_id, product_id, side)
    check_price(limit_price)
    if (base_size is None) == (quote_size is None):
        raise InvalidInput(
            "an IOC order takes exactly one of base_size (coins) or quote_size (GBP)"
        )
    if quote_size is not None:
        if side is Side.SELL:
            raise InvalidInput("an IOC sell is sized in coins (base_size), not in GBP (quote_size)")
        check_amount(quote_size)
    else:
        assert base_size is not None
        check_size(base_size, "base_size")
    return side


def sell_size(
    *,
    amount: Decimal | None,
    base_size: Decimal | None,
    price: Decimal,
    held: Decimal,
    rules: ProductRules,
) -> tuple[Decimal, str | None]:
    """The coins a sell sells: `base_size`, or `amount` GBP at `price` (the price when the order
    arrives), rounded down to the base increment and capped at the coins `held` (available).
    Returns the size and, when it was capped, a note that says so in words. Nothing to sell is
    InsufficientFunds; a GBP amount too small for one increment is InvalidInput."""
    base, quote = currencies(rules.product_id)
    wanted = base_size if base_size is not None else (amount or Decimal(0)) / price
    size = rules.round_size(wanted)
    available = rules.round_size(max(held, Decimal(0)))
    note = None
    if size > available:
        if available <= 0:
            raise InsufficientFunds(
                f"insufficient funds: selling {_asked(amount, base_size, base, quote)} of"
                f" {base} needs {fmt_size(size, base)} available, wallet has"
                f" {fmt_size(max(held, Decimal(0)), base)}"
            )
        if base_size is not None:
            note = (
                f"sold the {fmt_size(available, base)} held, not the"
                f" {fmt_size(base_size, base)} asked for"
            )
        else:
            assert amount is not None
            note = (
                f"sold the {fmt_size(available, base)} held: {fmt_money(amount, quote)} at"
                f" {fmt_money(price, quote)} is {fmt_size(size, base)}, more than held"
            )
        size = available
    if size <= 0:
        raise InvalidInput(
            f"{_asked(amount, base_size, base, quote)} is too small to sell any"
            f" {rules.product_id} at {fmt_money(price, quote)}"
        )
    return size, note


def _asked(amount: Decimal | None, base_size: Decimal | None, base: str, quote: str) -> str:
    return (
        fmt_money(amount, quote) if amount is not None else fmt_size(base_size or Decimal(0), base)
    )


def check_size(size: Decimal, what: str = "the size") -> None:
    """A coin size must be a finite, positive number."""
    if not isinstance(size, Decimal) or not size.is_finite() or size <= 0:
        raise InvalidInput(f"{what} must be a positive number of coins, not {size}")


def check_price(price: Decimal) -> None:
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
        raise InvalidInput(f"the limit price must be a positive price, not {price}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def clock_skew(exchange: Exchange, now: Callable[[], datetime] = _utcnow) -> timedelta:
    """How far this machine's clock is ahead of the exchange's (negative: behind), measured
    against the middle of the request so the round trip does not count as skew."""
    before = now()
    server = await exchange.server_time()
    after = now()
    return before + (after - before) / 2 - server


async def check_clock_skew(
    exchange: Exchange, limit: timedelta, now: Callable[[], datetime] = _utcnow
) -> timedelta:
    """Read the exchange's time; raise ClockSkewed (a clear line naming KRIPTO_MAX_CLOCK_SKEW)
    when this machine's clock is off by more than `limit`. Returns the skew measured. The
    worker calls this before placing maker orders (maker-flow wires it in)."""
    skew = await clock_skew(exchange, now)
    local = now()
    problem = clock_skew_problem(local - skew, local, limit)
    if problem is not None:
        raise ClockSkewed(problem)
    return skew
