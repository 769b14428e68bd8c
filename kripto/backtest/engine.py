"""Replay a price history through a strategy and the risk guards.

Signals come from the strategy's vectorised evaluation (causal: a point's signal never looks at
a later point); only the points that signal visit the guards and `market_fill`, in Decimal, so a
year of minutes takes well under a second.

Each order is filled as the execution fills it (`Costs`): under taker, at the decision's close
and the taker rate; under maker-first, as a resting limit at that close that fills at the maker
rate only if the price *after* it trades through its limit within the maker window, the remainder
paying the taker rate at the window's end (`_maker_first`; docs/backtesting.md says what this
leaves optimistic). The fee itself is kripto/fees.py's."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from kripto.decisions import edge_gate
from kripto.execution import Execution, Liquidity, MakerFallback
from kripto.fees import FeeTier, flat, round_trip_rate, saved_against_taker, side_rate
from kripto.fills import Fill, market_fill
from kripto.models import Side
from kripto.money import PENNY, SATOSHI, round_down
from kripto.protections import ProtectionState, buy_block, exit_reason, update_drawdown
from kripto.risk import Holdings, PastTrade, RiskSettings, size_trade
from kripto.strategies.base import BUY, Strategy, evaluate_at, min_points_at
from kripto.strategies.indicators import Floats
from kripto.strategies.series import Mask, gap_blocked

MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class Costs:
    """How the backtester fills an order, and what it pays: KRIPTO_FEE_TIER (or
    KRIPTO_FEE_RATE), KRIPTO_EXECUTION, KRIPTO_MAKER_WINDOW and KRIPTO_MAKER_FALLBACK."""

    fees: FeeTier
    execution: Execution = Execution.TAKER
    maker_window: timedelta = timedelta(minutes=2)
    fallback: MakerFallback = MakerFallback.TAKER

    @property
    def side_rate(self) -> Decimal:
        """What the fee guard weighs for each side (kripto/fees.py's `side_rate`)."""
        return side_rate(self.fees, self.execution, self.fallback)


@dataclass(frozen=True)
class BacktestTrade:
    #: The point the fill is booked at: the decision's own under taker; under maker-first the
    #: later point whose close showed the fill (or the window's end), never the decision's.
    index: int
    time: datetime
    price: Decimal
    fill: Fill
    #: Why a protection sold (a stop-loss or trailing stop), or None for a strategy's trade.
    protection: str | None = None
    liquidity: Liquidity = Liquidity.TAKER
    #: The point the decision was made at (its close is the maker order's limit).
    decided: int = -1

    #: What the fill saved against paying the taker rate (kripto/fees.py's
    #: `saved_against_taker`): 0 for a taker fill.
    saved: Decimal = Decimal(0)


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
    #: How orders were filled and what they paid (None: all taker at `fee_rate`).
    costs: Costs | None = None
    #: Maker orders the window left unfilled that KRIPTO_MAKER_FALLBACK=skip dropped.
    skipped: int = 0

    @property
    def execution(self) -> Execution:
        return Execution.TAKER if self.costs is None else self.costs.execution

    @property
    def traded_value(self) -> Decimal:
        return sum((t.fill.executed_value for t in self.trades), Decimal(0))

    @property
    def maker_share(self) -> Decimal | None:
        """The share of the value traded that filled at maker (None: nothing traded)."""
        total = self.traded_value
        if not total:
            return None
        maker = sum(
            (t.fill.executed_value for t in self.trades if t.liquidity is Liquidity.MAKER),
            Decimal(0),
        )
        return maker / total

    @property
    def maker_fills(self) -> int:
        return sum(1 for t in self.trades if t.liquidity is Liquidity.MAKER)

    @property
    def fees_saved(self) -> Decimal:
        """What the fills saved against paying the taker rate on all of them."""
        return sum((t.saved for t in self.trades), Decimal(0))

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
    fee_rate: Decimal | None = None,
    gbp: Decimal,
    costs: Costs | None = None,
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
    every point while they could act, with the same code as the live decider.

    `costs`: the fee tier and the execution (maker-first or taker); or `fee_rate` alone: every
    order a taker at that one rate, as before maker-first."""
    if prices.size <= trade_from:
        raise ValueError("no prices to backtest")
    if costs is None:
        if fee_rate is None:
            raise ValueError("give the costs or a fee rate")
        costs = Costs(flat(fee_rate))
    fee_rate = costs.side_rate
    fill_order = OrderFiller(prices, costs, step)
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
    clears = float(round_trip_rate(fee_rate) * risk.min_edge) * (1 - 1e-9)
    signals = np.where(evaluation.edge > clears, signals, 0).astype(np.int8)
    rules = risk.protections
    every = timedelta(minutes=getattr(strategy, "every", 0))
    protected = rules.any  # asked once: the loop below visits every point when it is on
    if protected:
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
    busy_until = skipped = 0
    for done, index in enumerate(signal_points, 1):
        if on_progress is not None and done % 256 == 0:
            on_progress(done, signal_points.size)
        i = int(index)
        now = start + i * spacing
        signal = int(signals[i])
        reason: str | None = None
        if protected:
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
        if i < busy_until:
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
        if side is Side.BUY and protected:
            held = buy_block(rules, state, cash + btc * price, now)
            if held is not None:
                guard = held.split(":", 1)[0]
                held_by[guard] = held_by.get(guard, 0) + 1
                continue
        if reason is not None:
            # A protective exit sells the whole position: no edge test, no cooldown.
            amount = round_down(btc * price, PENNY)
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
            amount = sized.amount
        order = fill_order(side, amount, i)
        if order is None:  # the maker window ran out and the fallback is to skip
            skipped += 1
            busy_until = fill_order.window_end(i)
            # As live, the trade was claimed: the cooldown counts it; it spent nothing.
            recent.append(PastTrade(now, side, Decimal(0)))
            continue
        fill = order.fill
        if fill.filled_size == 0:
            continue
        # No decision is made while the order is working: the next one sees its fill.
        busy_until = order.index
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
                state.peak_price = max(state.peak_price or order.price, order.price)
        else:
            state.entry_price = state.peak_price = None
        if reason is not None:
            state.stop_losses.append(now)
        trades.append(
            BacktestTrade(
                order.index,
                start + order.index * spacing,
                order.price,
                fill,
                reason,
                liquidity=order.liquidity,
                decided=i,
                saved=saved_against_taker(fill.executed_value, fill.fill_fees, costs.fees),
            )
        )
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
        costs=costs,
        skipped=skipped,
    )


@dataclass(frozen=True)
class FilledOrder:
    fill: Fill
    #: The point it is booked at.
    index: int
    price: Decimal
    liquidity: Liquidity


class OrderFiller:
    """Fills a decision's order as the execution would, from the closes at and after it.

    Taker: at the decision's close, the taker rate. Maker-first: a limit at the decision's close
    (close-only data know no bid or ask), filled at the maker rate if a later close within the
    maker window trades through it (a buy's below it, a sell's above it); between two closes the
    price is taken to move in a straight line, so a window that ends between them (two minutes
    on hourly closes) ends at the point on that line. Otherwise, at the window's end, the
    remainder goes as a taker order: at the price then, the taker rate (its IOC cap of
    KRIPTO_MAX_SLIPPAGE is from the touch then, which close-only data show as that price, so it
    never binds here); or, with KRIPTO_MAKER_FALLBACK=skip, it is dropped. A fill is booked at
    the first close after the decision that shows it, never at the decision's own."""

    def __init__(self, prices: Floats, costs: Costs, step: int) -> None:
        self.prices = prices
        self.costs = costs
        self.maker = costs.execution is Execution.MAKER_FIRST
        window = costs.maker_window.total_seconds() / 60 / step  # in points
        self.whole = int(window)
        self.part = window - self.whole

    def __call__(self, side: Side, amount: Decimal, i: int) -> FilledOrder | None:
        price = _price(self.prices[i])
        if not self.maker:
            fill = market_fill(side, amount, price, self.costs.fees.taker)
            return FilledOrder(fill, i, price, Liquidity.TAKER)
        return self._maker_first(side, amount, i, price)

    def window_end(self, i: int) -> int:
        """The point a maker order placed at `i` is known to have ended by: the first close at
        or after the window's end (or the data's last)."""
        return min(i + self.whole + (1 if self.part else 0), self.prices.size - 1)

    def _maker_first(
        self, side: Side, amount: Decimal, i: int, limit: Decimal
    ) -> FilledOrder | None:
        prices, buy, bound = self.prices, side is Side.BUY, float(limit)
        last = min(i + self.whole, prices.size - 1)
        later = prices[i + 1 : last + 1]
        hit = np.flatnonzero(later < bound if buy else later > bound)
        if hit.size:
            return self._maker(side, amount, limit, i + 1 + int(hit[0]))
        end, at = float(prices[last]), last
        if last == i + self.whole and self.part and last + 1 < prices.size:
            # The window ends between two closes: on the straight line between them.
            end += (float(prices[last + 1]) - end) * self.part
            at = last + 1
            if end < bound if buy else end > bound:
                return self._maker(side, amount, limit, at)
        if self.costs.fallback is MakerFallback.SKIP:
            return None
        taker = _price(end)
        if side is Side.SELL:
            # The coins the decision sold, whatever the price now: never more than asked.
            amount = round_down(amount / limit, SATOSHI) * taker
        return FilledOrder(
            market_fill(side, amount, taker, self.costs.fees.taker), at, taker, Liquidity.TAKER
        )

    def _maker(self, side: Side, amount: Decimal, limit: Decimal, at: int) -> FilledOrder:
        fill = market_fill(side, amount, limit, self.costs.fees.maker)
        return FilledOrder(fill, at, limit, Liquidity.MAKER)


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
