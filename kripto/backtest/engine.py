"""Replay a price history through a strategy and the risk guards.

Signals come from the strategy's vectorised evaluation (causal: a point's signal never looks at
a later point); only the points that signal visit the guards and `market_fill`, in Decimal, so a
year of minutes takes well under a second."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from kripto.decisions import edge_gate
from kripto.fills import Fill, market_fill
from kripto.models import Side
from kripto.money import PENNY, round_down
from kripto.protections import ProtectionState, buy_block, exit_reason, update_drawdown
from kripto.risk import Holdings, PastTrade, RiskSettings, size_trade
from kripto.strategies.base import BUY, Strategy, evaluate_at, min_points_at
from kripto.strategies.indicators import Floats
from kripto.strategies.series import Mask, gap_blocked

MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class BacktestTrade:
    index: int
    time: datetime
    price: Decimal
    fill: Fill
    #: Why a protection sold (a stop-loss or trailing stop), or None for a strategy's trade.
    protection: str | None = None


@dataclass
class BacktestResult:
    strategy: str
    params: dict[str, str]
    start: datetime
    points: int
    start_gbp: Decimal
    fee_rate: Decimal
    final_gbp: Decimal
    final_btc: Decimal
    final_price: Decimal
    trades: list[BacktestTrade]
    equity: Floats = field(repr=False)
    buy_and_hold: Floats = field(repr=False)
    dca_return: Decimal = Decimal(0)
    winning_round_trips: int = 0
    round_trips: int = 0
    #: Minutes between points (60 for an hourly series).
    step: int = 1
    protections: str = "none"
    #: Buy signals a protection held back (the drawdown and stop-loss guards), by protection.
    held_by: dict[str, int] = field(default_factory=dict)

    @property
    def fees_share(self) -> Decimal:
        """Fees as a share of the starting money."""
        return self.fees_paid / self.start_gbp

    @property
    def stop_exits(self) -> int:
        return sum(1 for t in self.trades if t.protection is not None)

    @property
    def final_equity(self) -> Decimal:
        return self.final_gbp + self.final_btc * self.final_price

    @property
    def total_return(self) -> Decimal:
        return self.final_equity / self.start_gbp - 1

    @property
    def buy_and_hold_return(self) -> Decimal:
        return Decimal(repr(float(self.buy_and_hold[-1]))) / self.start_gbp - 1

    @property
    def fees_paid(self) -> Decimal:
        return sum((t.fill.fill_fees for t in self.trades), Decimal(0))

    @property
    def max_drawdown(self) -> float:
        peaks = np.maximum.accumulate(self.equity)
        return float(np.max(1.0 - self.equity / peaks)) if self.equity.size else 0.0

    @property
    def win_rate(self) -> float | None:
        return self.winning_round_trips / self.round_trips if self.round_trips else None


def _price(value: float) -> Decimal:
    return Decimal(repr(round(float(value), 2)))


def run_backtest(
    prices: Floats,
    strategy: Strategy,
    risk: RiskSettings,
    *,
    fee_rate: Decimal,
    gbp: Decimal,
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    on_progress: Callable[[int, int], None] | None = None,
    observed: Mask | None = None,
    trade_from: int = 0,
    baselines: Baselines | None = None,
    step: int = 1,
) -> BacktestResult:
    """`prices` are one per `step` minutes (the series' own spacing: 60 for an hourly file),
    oldest first, starting at `start`. `observed` marks the points that had a rate of their own
    (None: all of them); as live, no trade is made on a window with a longer gap than the guards
    allow.

    `trade_from`: the points before it only warm the indicators up (a walk-forward test span
    reads its training span as history but trades, and is measured, from its own first
    point); buy-and-hold and DCA start there too. `baselines`: those two, computed once by
    `baselines()` for a sweep that runs many sets over the same prices.

    The protections in `risk` (stop-loss, trailing stop, drawdown and stop-loss guards) run at
    every point while they could act, with the same code as the live decider."""
    if prices.size <= trade_from:
        raise ValueError("no prices to backtest")
    evaluation = evaluate_at(strategy, prices, step)
    signals = evaluation.signals
    need = min_points_at(strategy, step)
    if observed is not None:
        max_gap = max(1, risk.max_gap_minutes // step)
        blocked = gap_blocked(observed, need, max_gap)
        signals = np.where(blocked, 0, signals)
    if trade_from:
        signals = signals.copy()
        signals[:trade_from] = 0
    # The min-edge gate (kripto.decisions.edge_gate): a signal whose expected move is certainly
    # not above the round-trip fee times KRIPTO_MIN_EDGE is a hold, whatever the state; the
    # margin leaves every near miss to the gate's own Decimal comparison in the loop.
    clears = float(2 * fee_rate * risk.min_edge) * (1 - 1e-9)
    signals = np.where(evaluation.edge > clears, signals, 0).astype(np.int8)
    rules = risk.protections
    every = timedelta(minutes=getattr(strategy, "every", 0))
    if rules.any:
        # Protections may act at any point once trading starts.
        signal_points = np.arange(max(trade_from, need - 1), prices.size)
    else:
        signal_points = np.flatnonzero(signals)
    cooldown, minimum = risk.cooldown, risk.minimum
    cash, btc = gbp, Decimal(0)
    cost_basis = Decimal(0)  # GBP paid for the BTC held, fees included
    wins = trips = 0
    trades: list[BacktestTrade] = []
    recent: deque[PastTrade] = deque()  # the last day's trades: the cooldown and daily limit
    state = ProtectionState()
    last_buy: datetime | None = None
    held_by: dict[str, int] = {}  # buys a protection held back, by protection
    spacing = timedelta(minutes=step)
    for done, index in enumerate(signal_points, 1):
        if on_progress is not None and done % 256 == 0:
            on_progress(done, signal_points.size)
        i = int(index)
        now = start + i * spacing
        signal = int(signals[i])
        reason: str | None = None
        if rules.any:
            price = _price(prices[i])
            if btc > 0:
                state.peak_price = max(state.peak_price or price, price)
                if round_down(btc * price, PENNY) >= minimum:  # dust is no position (as live)
                    reason = exit_reason(rules, state, price)
            update_drawdown(rules, state, cash + btc * price)
            if reason is None and signal == 0:
                continue
        elif signal == 0:
            continue
        while recent and now - recent[0].at > timedelta(days=1):
            recent.popleft()
        side = Side.SELL if reason is not None else (Side.BUY if signal == BUY else Side.SELL)
        if reason is None and (
            edge_gate(strategy, {}, side, float(evaluation.edge[i]), fee_rate, risk.min_edge)
            is not None
        ):
            continue
        if side is Side.BUY and every and last_buy is not None and now - last_buy < every:
            continue
        # Refusals size_trade would give in any case, decided without building its reasons:
        # the cooldown, and nothing to sell or too little to buy (its amount is at least the
        # minimum, which is then more than is available).
        if reason is None and recent and now - recent[-1].at < cooldown:
            continue
        if (btc == 0) if side is Side.SELL else (cash < minimum):
            continue
        price = _price(prices[i])
        if side is Side.BUY and rules.any:
            held = buy_block(rules, state, cash + btc * price, now)
            if held is not None:
                guard = held.split(":", 1)[0]
                held_by[guard] = held_by.get(guard, 0) + 1
                continue
        if reason is not None:
            # A protective exit sells the whole position: no edge test, no cooldown.
            fill = market_fill(Side.SELL, round_down(btc * price, PENNY), price, fee_rate)
            if fill.filled_size == 0:
                continue
        else:
            wanted = None if evaluation.amounts is None else float(evaluation.amounts[i])
            sized = size_trade(
                side,
                price=price,
                holdings=Holdings(gbp=cash, btc=btc),
                recent_trades=recent,
                now=now,
                edge=float(evaluation.edge[i]),
                fee_rate=fee_rate,
                risk=risk,
                amount=None if wanted is None else round_down(Decimal(repr(wanted)), PENNY),
            )
            if not sized.ok:
                continue
            fill = market_fill(side, sized.amount, price, fee_rate)
            if fill.filled_size == 0:
                continue
        if side is Side.SELL:
            sold_cost = cost_basis * fill.filled_size / btc
            trips += 1
            wins += int(fill.gbp_change > sold_cost)
            cost_basis -= sold_cost
        else:
            cost_basis += -fill.gbp_change
            last_buy = now
        cash += fill.gbp_change
        btc += fill.btc_change
        if btc > 0:
            state.entry_price = cost_basis / btc
            if side is Side.BUY:
                state.peak_price = max(state.peak_price or price, price)
        else:
            state.entry_price = state.peak_price = None
        if reason is not None:
            state.stop_losses.append(now)
        trades.append(BacktestTrade(i, now, price, fill, reason))
        recent.append(PastTrade(now, side, fill.executed_value + fill.fill_fees))
    if on_progress is not None:
        on_progress(signal_points.size, signal_points.size)
    per_day = max(1, MINUTES_PER_DAY // step)
    hold_curve, dca = baselines or compute_baselines(prices[trade_from:], gbp, fee_rate, per_day)
    return BacktestResult(
        strategy=strategy.name,
        params=strategy.params(),
        start=start + trade_from * spacing,
        points=int(prices.size - trade_from),
        start_gbp=gbp,
        fee_rate=fee_rate,
        final_gbp=cash,
        final_btc=btc,
        final_price=_price(prices[-1]),
        trades=trades,
        equity=_equity(prices, trades, gbp)[trade_from:],
        buy_and_hold=hold_curve,
        dca_return=dca,
        winning_round_trips=wins,
        round_trips=trips,
        step=step,
        protections=rules.label(),
        held_by=held_by,
    )


def _equity(prices: Floats, trades: list[BacktestTrade], gbp: Decimal) -> Floats:
    """Cash plus BTC at each minute's price (float: for the curve and drawdown only). The
    holdings change only at trades, so they are repeated between them (the same sums, in the
    same order, as a running total over every minute)."""
    if not trades:
        return np.full(prices.size, float(gbp))
    starts = [0] + [t.index for t in trades if t.index > 0]
    cash = [float(gbp)]
    coins = [0.0]
    for trade in trades:
        if trade.index > 0:
            cash.append(cash[-1])
            coins.append(coins[-1])
        cash[-1] += float(trade.fill.gbp_change)
        coins[-1] += float(trade.fill.btc_change)
    lengths = np.diff(np.append(starts, prices.size))
    equity: Floats = np.repeat(cash, lengths) + np.repeat(coins, lengths) * prices
    return equity


Baselines = tuple[Floats, Decimal]


def compute_baselines(
    prices: Floats, gbp: Decimal, fee_rate: Decimal, per_day: int = MINUTES_PER_DAY
) -> Baselines:
    """Buy-and-hold's curve and DCA's return: the same for every parameter set. `per_day`:
    points a day (1,440 for minutes, 24 for hours)."""
    return _buy_and_hold(prices, gbp, fee_rate), _dca_return(prices, gbp, fee_rate, per_day)


def _buy_and_hold(prices: Floats, gbp: Decimal, fee_rate: Decimal) -> Floats:
    fill = market_fill(Side.BUY, gbp, _price(prices[0]), fee_rate)
    left = float(gbp + fill.gbp_change)
    curve: Floats = left + float(fill.filled_size) * prices
    return curve


def dca_curve(
    prices: Floats, gbp: Decimal, fee_rate: Decimal, per_day: int = MINUTES_PER_DAY
) -> Floats:
    """DCA's equity at each point (float, for the chart): `_dca_return`'s buys, day by day."""
    days = max(1, -(-prices.size // per_day))
    daily = round_down(gbp / days, PENNY)
    cash = np.full(prices.size, float(gbp))
    coins = np.zeros(prices.size)
    for day in range(days if daily > 0 else 0):
        fill = market_fill(Side.BUY, daily, _price(prices[day * per_day]), fee_rate)
        cash[day * per_day :] += float(fill.gbp_change)
        coins[day * per_day :] += float(fill.filled_size)
    curve: Floats = cash + coins * prices
    return curve


def _dca_return(prices: Floats, gbp: Decimal, fee_rate: Decimal, per_day: int) -> Decimal:
    """The same money spread over equal daily buys at each day's first price."""
    days = max(1, -(-prices.size // per_day))
    daily = round_down(gbp / days, PENNY)
    cash, btc = gbp, Decimal(0)
    for day in range(days):
        if daily <= 0:
            break
        fill = market_fill(Side.BUY, daily, _price(prices[day * per_day]), fee_rate)
        cash += fill.gbp_change
        btc += fill.filled_size
    return (cash + btc * _price(prices[-1])) / gbp - 1
