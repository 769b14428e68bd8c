"""Profit and loss from the recorded trades: pure arithmetic on Decimals, no I/O.

Held BTC is carried at its average cost, fees included, so a sell realises its proceeds (less
its fee) minus the average cost of the BTC it sold, and what is still held is unrealised. The
dashboard compares the portfolio's value with buying and holding BTC from the first trade."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from kripto.models import Side

ZERO = Decimal(0)


@dataclass(frozen=True)
class Fill:
    """What a trade did: the BTC it moved, the GBP value it moved it at, and the fee."""

    at: datetime
    side: Side
    btc: Decimal
    value: Decimal
    fees: Decimal

    @property
    def price(self) -> Decimal | None:
        return self.value / self.btc if self.btc else None


@dataclass(frozen=True)
class Position:
    btc: Decimal = ZERO
    #: What the held BTC cost, fees included (average cost).
    cost: Decimal = ZERO
    #: GBP in minus GBP out since the start: negative after buys.
    cash: Decimal = ZERO
    realised: Decimal = ZERO
    fees: Decimal = ZERO

    def apply(self, fill: Fill) -> Position:
        if fill.side is Side.BUY:
            spent = fill.value + fill.fees
            return Position(
                btc=self.btc + fill.btc,
                cost=self.cost + spent,
                cash=self.cash - spent,
                realised=self.realised,
                fees=self.fees + fill.fees,
            )
        proceeds = fill.value - fill.fees
        # Selling more than was bought here (BTC held before the first trade) costs nothing.
        sold_cost = self.cost * min(fill.btc / self.btc, Decimal(1)) if self.btc else ZERO
        return Position(
            btc=self.btc - fill.btc,
            cost=self.cost - sold_cost,
            cash=self.cash + proceeds,
            realised=self.realised + proceeds - sold_cost,
            fees=self.fees + fill.fees,
        )

    def unrealised(self, rate: Decimal) -> Decimal:
        """What the held BTC would gain (or lose) against its cost if sold at `rate`, no fee."""
        return self.btc * rate - self.cost

    def value(self, start_gbp: Decimal, rate: Decimal) -> Decimal:
        """The portfolio in GBP: the starting cash, what trading moved, and the BTC at `rate`."""
        return start_gbp + self.cash + self.btc * rate


def position(fills: Iterable[Fill]) -> Position:
    result = Position()
    for fill in sorted(fills, key=lambda f: f.at):
        result = result.apply(fill)
    return result


def buy_and_hold(
    start_gbp: Decimal, first_price: Decimal, rate: Decimal, fee_rate: Decimal = Decimal(0)
) -> Decimal:
    """The starting cash put into BTC at the first trade's price, paying the taker fee as a
    market buy does (kripto.fills.market_fill, as the backtester's buy-and-hold), and held: the
    cash left over plus the coins at `rate`."""
    from kripto.fills import market_fill

    fill = market_fill(Side.BUY, start_gbp, first_price, fee_rate)
    return start_gbp + fill.gbp_change + fill.filled_size * rate


def value_series(
    fills: Iterable[Fill],
    start_gbp: Decimal,
    rates: Iterable[tuple[datetime, Decimal]],
    fee_rate: Decimal = Decimal(0),
) -> list[tuple[datetime, Decimal, Decimal | None]]:
    """(time, portfolio value, buy-and-hold value) at each rate, oldest first; buy-and-hold is
    None before the first trade. Both walk forward once, so this is linear in rates + fills."""
    ordered = sorted(fills, key=lambda f: f.at)
    first_price = next((f.price for f in ordered if f.price), None)
    first_at = ordered[0].at if ordered else None
    out: list[tuple[datetime, Decimal, Decimal | None]] = []
    held = Position()
    i = 0
    for at, rate in rates:
        while i < len(ordered) and ordered[i].at <= at:
            held = held.apply(ordered[i])
            i += 1
        hold = (
            buy_and_hold(start_gbp, first_price, rate, fee_rate)
            if first_price is not None and first_at is not None and at >= first_at
            else None
        )
        out.append((at, held.value(start_gbp, rate), hold))
    return out


def dca_series(
    start_gbp: Decimal, first_at: datetime | None, rates: Sequence[tuple[datetime, Decimal]]
) -> list[tuple[datetime, Decimal]]:
    """DCA beside buy-and-hold: the starting cash in equal daily buys from the first trade to the
    newest rate, each at the first rate of its day (no fee, as buy-and-hold); its value at each
    rate from the first trade on."""
    if first_at is None or not rates or rates[-1][0] < first_at:
        return []
    day = timedelta(days=1)
    days = max(1, -(-(rates[-1][0] - first_at) // day))
    daily = start_gbp / days
    cash, coins, bought = start_gbp, Decimal(0), 0
    next_buy = first_at
    out: list[tuple[datetime, Decimal]] = []
    for at, rate in rates:
        if at < first_at:
            continue
        while at >= next_buy and bought < days and rate > 0:
            coins += daily / rate
            cash -= daily
            bought += 1
            next_buy += day
        out.append((at, cash + coins * rate))
    return out
