"""Risk guards: what stands between a strategy's signal and an order. Pure and always on.

Each guard that says no gives a one-line reason a person can read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from kripto.fees import round_trip_rate
from kripto.models import DEFAULT_PRODUCT, Order, Side, currencies
from kripto.money import PENNY, fmt_money, round_down
from kripto.protections import Protections


@dataclass(frozen=True)
class RiskSettings:
    trade_fraction: Decimal = Decimal("0.15")
    min_order_gbp: Decimal = Decimal("10.00")
    exchange_min_gbp: Decimal = Decimal("1")
    max_trade_gbp: Decimal = Decimal("1000.00")
    daily_spend_limit_gbp: Decimal = Decimal("250.00")
    cooldown: timedelta = timedelta(minutes=30)
    stale_after: timedelta = timedelta(minutes=5)
    #: The longest run of minutes without rates a strategy's window may hold.
    max_gap: timedelta = timedelta(minutes=60)
    #: Stop-loss, trailing stop, drawdown and stop-loss guards (kripto/protections.py).
    protections: Protections = field(default_factory=Protections)
    #: The live decider's bar: the strategy runs on closes this many minutes apart (1: every
    #: minute), so live decisions see what a backtest at that resolution sees.
    bar_minutes: int = 1
    #: KRIPTO_MIN_EDGE: a strategy's buy or sell must expect a move to its own target of more
    #: than this many round-trip fees (kripto.decisions.edge_gate); protective exits never wait.
    min_edge: Decimal = Decimal(2)

    @property
    def max_gap_minutes(self) -> int:
        return int(self.max_gap.total_seconds() // 60)

    @property
    def minimum(self) -> Decimal:
        return max(self.min_order_gbp, self.exchange_min_gbp)


@dataclass(frozen=True)
class Holdings:
    """What the wallet has available of the product's quote (`gbp`, named for BTC-GBP) and
    base (`btc`) currencies, in Decimal."""

    gbp: Decimal
    btc: Decimal


@dataclass(frozen=True)
class PastTrade:
    """A trade the cooldown and the daily spend limit count: one that is recorded, or one that a
    decision has started and that has not been recorded yet (it may still be settling)."""

    at: datetime
    side: Side
    #: What the trade is worth in its quote currency (GBP for BTC-GBP), fees included (for a
    #: buy: what it cost).
    gbp: Decimal
    #: The trade's product; None where it is not known (the backtester trades one product).
    #: The cooldown counts only the product's own trades (and unknown ones).
    product_id: str | None = None

    @classmethod
    def of(cls, order: Order) -> PastTrade:
        """A settled order by what it cost; one still settling by at least what it was placed
        for (its fills so far may be nothing yet)."""
        spent = order.executed_value + order.fill_fees
        return cls(
            order.created_at,
            order.side,
            spent if order.settled else max(spent, order.funds),
            order.product_id,
        )


@dataclass(frozen=True)
class Sized:
    amount: Decimal  # in the quote currency; 0 when a guard said no
    reason: str | None  # why not, or None

    @property
    def ok(self) -> bool:
        return self.reason is None


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f} min"


def spent_since(trades: Sequence[PastTrade], since: datetime) -> Decimal:
    return sum((t.gbp for t in trades if t.side is Side.BUY and t.at > since), Decimal(0))


def size_trade(
    side: Side,
    *,
    price: Decimal,
    holdings: Holdings,
    recent_trades: Sequence[PastTrade],
    now: datetime,
    edge: float,
    fee_rate: Decimal,
    risk: RiskSettings,
    product_id: str = DEFAULT_PRODUCT,
    amount: Decimal | None = None,
) -> Sized:
    """Apply every guard to a buy or sell signal for `product_id`; the amount to trade (in its
    quote currency), or why not.

    `recent_trades` are the day's trades in the product's quote currency, of every product: the
    daily spend limit is one limit per quote currency across markets, while the cooldown counts
    only this product's own trades (one market's trade does not hold another back).

    `amount`: what the strategy asks to buy (DCA); None: the trade fraction of what is held.
    `fee_rate`: what each side of the trade plans to pay (kripto/fees.py's `planned_rate`: the
    maker rate under maker-first, the taker rate under taker); the edge must clear the round
    trip (`round_trip_rate`)."""
    base, quote = currencies(product_id)
    own = [t for t in recent_trades if t.product_id in (None, product_id)]
    if own:
        last = max(t.at for t in own)
        if now - last < risk.cooldown:
            since, needed = _minutes(max(now - last, timedelta(0))), _minutes(risk.cooldown)
            return Sized(Decimal(0), f"cooldown: last trade {since} ago (needs {needed})")
    round_trip = round_trip_rate(fee_rate)
    if Decimal(repr(edge)) < round_trip:
        return Sized(
            Decimal(0),
            f"expected edge {edge:.2%} is below the round-trip fee {float(round_trip):.2%}",
        )
    minimum = risk.minimum
    if side is Side.BUY:
        available = holdings.gbp
        what = f"{fmt_money(available, quote)} {quote} available"
    else:
        available = round_down(holdings.btc * price, PENNY)
        what = f"{base} worth {fmt_money(available, quote)} available"
    wanted = amount
    amount = round_down(available * risk.trade_fraction, PENNY) if wanted is None else wanted
    if amount < minimum:
        amount = minimum
    if amount > available:
        return Sized(
            Decimal(0),
            f"not enough to {side.value}: {what}, minimum order {fmt_money(minimum, quote)}",
        )
    amount = min(amount, risk.max_trade_gbp)
    if side is Side.BUY:
        spent = spent_since(recent_trades, now - timedelta(days=1))
        room = risk.daily_spend_limit_gbp - spent
        if room < minimum:
            limit = fmt_money(risk.daily_spend_limit_gbp, quote)
            return Sized(
                Decimal(0),
                f"daily spend limit reached: {fmt_money(spent, quote)} of {limit}",
            )
        amount = min(amount, round_down(room, PENNY))
    return Sized(amount, None)


def past_the_guards(
    product_id: str,
    *,
    recent_trades: Sequence[PastTrade],
    now: datetime,
    risk: RiskSettings,
) -> list[str]:
    """What a person's own trade goes past: the cooldown holds the automatic trades only (a
    person's trade is deliberate, as with the kill switch), but it counts for it, so `kripto
    trade` says so. (The daily spend limit holds every buy, a person's too: the trade itself
    refuses one that does not fit.) `recent_trades`: as for `size_trade`."""
    own = [t for t in recent_trades if t.product_id in (None, product_id)]
    if not own or now - max(t.at for t in own) >= risk.cooldown:
        return []
    since = _minutes(max(now - max(t.at for t in own), timedelta(0)))
    return [
        f"the cooldown (last {product_id} trade {since} ago; the automatic trades"
        f" wait {_minutes(risk.cooldown)})"
    ]
