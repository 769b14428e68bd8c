"""Parameter sweeps and walk-forward tests over the live strategy and guard code.

A sweep runs `run_backtest` itself for every parameter set, so its figures are the backtest's to
the penny; what makes a thousand sets cheap is sharing, not a second implementation: inside
`shared_indicators` each distinct indicator (the RSI of one period, the EMA of one span, one
threshold crossing) is computed once, buy-and-hold and DCA once per span, and only the signal
points of each set go through the Decimal guards and fills.

Walk-forward splits the history into consecutive spans; fold i chooses the best set on span i
and reports only how that set did on span i+1, which it has never seen (span i is the test's
warm-up history, never traded in it). The gap between the in-sample and out-of-sample figures
is how far a sweep's best result flatters itself."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from kripto.backtest.engine import BacktestResult, compute_baselines, run_backtest
from kripto.backtest.report import pct
from kripto.money import PENNY
from kripto.risk import RiskSettings
from kripto.strategies import Strategy, build, declaration
from kripto.strategies.base import Param, duration_minutes
from kripto.strategies.indicators import Floats, shared_indicators
from kripto.strategies.series import Mask

#: More sets than this is a typo in a step, not a plan.
MAX_SETS = 100_000
#: In-sample mean return more than this many percentage points over the out-of-sample one,
#: or an out-of-sample mean under half the in-sample one, is reported as overfitting.
OVERFIT_POINTS = 0.01


class GridError(ValueError):
    """A --grid that cannot be swept; the message names the parameter and the rule."""


Grid = dict[str, list[int | float]]


def parse_grid(strategy: str, text: str) -> Grid:
    """`period=120:480:60,low=25:45:5,high=60` → every value of each parameter (start:stop:step,
    stop included, or one value); unnamed parameters keep their defaults."""
    try:
        params = {p.name: p for p in declaration(strategy)}
    except ValueError as exc:
        raise GridError(f"--strategy: {exc}") from None
    grid: Grid = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, spec = (s.strip() for s in item.partition("="))
        if not sep or not spec:
            raise GridError(f"--grid {item!r}: write name=start:stop:step or name=value")
        if name not in params:
            raise GridError(
                f"--grid {item!r}: {strategy} has no parameter {name!r};"
                f" it takes {', '.join(params)}"
            )
        if name in grid:
            raise GridError(f"--grid: {name} is given twice")
        grid[name] = _values(params[name], item, spec)
    if not grid:
        raise GridError("--grid: name at least one parameter, e.g. period=120:480:60")
    count = int(np.prod([len(v) for v in grid.values()]))
    if count > MAX_SETS:
        raise GridError(f"--grid: {count:,} parameter sets is more than {MAX_SETS:,}")
    return grid


def _values(param: Param, item: str, spec: str) -> list[int | float]:
    parts = spec.split(":")
    try:
        if len(parts) == 1:
            return [param.parse(parts[0])]
        if len(parts) != 3:
            raise GridError(f"--grid {item!r}: write {param.name}=start:stop:step")
        start, stop, step = (
            param.parse(p) if i < 2 else (duration_minutes(p) if param.duration else param.kind(p))
            for i, p in enumerate(parts)
        )
    except ValueError as exc:
        if isinstance(exc, GridError):
            raise
        raise GridError(f"--grid {item!r}: {exc}") from None
    if step <= 0 or stop < start:
        raise GridError(f"--grid {item!r}: needs start <= stop and a positive step")
    count = math.floor((stop - start) / step + 1e-9) + 1
    return [param.kind(round(start + i * step, 10)) for i in range(count)]


def parameter_sets(strategy: str, grid: Grid) -> tuple[list[Strategy], int]:
    """The grid's strategies, and how many sets the strategy's own rules refused (low >= high)."""
    names = list(grid)
    built: list[Strategy] = []
    refused = 0
    for combo in itertools.product(*grid.values()):
        try:
            built.append(build(strategy, dict(zip(names, combo, strict=True))))
        except ValueError:
            refused += 1
    if not built:
        raise GridError("--grid: every parameter set breaks the strategy's rules")
    return built, refused


@dataclass(frozen=True)
class SetResult:
    """One parameter set's figures over one span (the equity curve is not kept: a thousand
    sets of a year of minutes would be gigabytes)."""

    params: dict[str, str]
    total_return: Decimal
    trades: int
    fees: Decimal
    max_drawdown: float
    win_rate: float | None

    @classmethod
    def of(cls, result: BacktestResult) -> SetResult:
        return cls(
            result.params,
            result.total_return,
            len(result.trades),
            result.fees_paid,
            result.max_drawdown,
            result.win_rate,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "params": self.params,
            "totalReturn": pct(self.total_return),
            "trades": self.trades,
            "feesPaid": str(self.fees.quantize(PENNY)),
            "maxDrawdown": pct(self.max_drawdown),
            "winningRoundTrips": pct(self.win_rate),
        }


@dataclass(frozen=True)
class Sweep:
    results: list[SetResult]  # best return first
    buy_and_hold: Decimal
    dca: Decimal
    refused: int


@dataclass(frozen=True)
class Market:
    """What every backtest of a sweep shares."""

    prices: Floats
    start: datetime
    observed: Mask | None
    risk: RiskSettings
    fee_rate: Decimal
    gbp: Decimal
    #: Minutes between points (60 for an hourly series).
    step: int = 1


def sweep(
    market: Market,
    strategies: Sequence[Strategy],
    *,
    trade_from: int = 0,
    refused: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> Sweep:
    """Every set over the same prices, best total return first (ties: fewer trades)."""
    prices = market.prices
    per_day = max(1, 1440 // market.step)
    baselines = compute_baselines(prices[trade_from:], market.gbp, market.fee_rate, per_day)
    results = []
    with shared_indicators(prices):
        for done, strategy in enumerate(strategies, 1):
            result = run_backtest(
                prices,
                strategy,
                market.risk,
                fee_rate=market.fee_rate,
                gbp=market.gbp,
                start=market.start,
                observed=market.observed,
                step=market.step,
                trade_from=trade_from,
                baselines=baselines,
            )
            results.append(SetResult.of(result))
            if on_progress is not None:
                on_progress(done, len(strategies))
    results.sort(key=lambda r: (-r.total_return, r.trades))
    hold = Decimal(repr(float(baselines[0][-1]))) / market.gbp - 1
    return Sweep(results, hold, baselines[1], refused)


@dataclass(frozen=True)
class Fold:
    train: tuple[int, int]  # [start, end) point indices, at the series' own spacing
    test: tuple[int, int]
    chosen: dict[str, str]
    in_sample: SetResult
    out_of_sample: SetResult
    buy_and_hold: Decimal  # over the test span
    dca: Decimal

    def as_json(self, start: datetime, step: int = 1) -> dict[str, object]:
        """`start`: the first point's time; `step`: minutes between points (the indices are
        points of the series, not minutes)."""

        def when(i: int) -> str:
            return (start + timedelta(minutes=i * step)).isoformat()

        return {
            "train": [when(self.train[0]), when(self.train[1])],
            "test": [when(self.test[0]), when(self.test[1])],
            "chosen": self.chosen,
            "inSample": self.in_sample.as_json(),
            "outOfSample": self.out_of_sample.as_json(),
            "buyAndHoldReturn": pct(self.buy_and_hold),
            "dailyDcaReturn": pct(self.dca),
        }


def fold_bounds(points: int, folds: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """`folds` (train, test) pairs over `folds + 1` consecutive equal spans: fold i trains on
    span i and tests on span i+1. Spans are whole points (bars at the data's own resolution);
    the last one takes the remainder."""
    if folds < 1:
        raise GridError("--walk-forward: at least 1 fold")
    edges = [points * i // (folds + 1) for i in range(folds + 2)]
    return [((edges[i], edges[i + 1]), (edges[i + 1], edges[i + 2])) for i in range(folds)]


@dataclass(frozen=True)
class WalkForward:
    folds: list[Fold]
    #: Minutes between points (the fold bounds are points, at the data's own resolution).
    step: int = 1

    @property
    def in_sample_mean(self) -> Decimal:
        return sum((f.in_sample.total_return for f in self.folds), Decimal(0)) / len(self.folds)

    @property
    def out_of_sample_mean(self) -> Decimal:
        return sum((f.out_of_sample.total_return for f in self.folds), Decimal(0)) / len(self.folds)

    @property
    def overstatement(self) -> Decimal:
        """How many return points the in-sample figure is above the out-of-sample one."""
        return self.in_sample_mean - self.out_of_sample_mean

    @property
    def overfit(self) -> bool:
        """The in-sample best is much better than what it did next: more than OVERFIT_POINTS,
        and the out-of-sample mean under half of a positive in-sample mean."""
        ins, oos = self.in_sample_mean, self.out_of_sample_mean
        return self.overstatement > Decimal(repr(OVERFIT_POINTS)) and (ins <= 0 or oos < ins / 2)


def walk_forward(
    market: Market,
    strategy: str,
    grid: Grid,
    folds: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> WalkForward:
    """Choose on each training span, report the following test span. No test minute is read
    when choosing: a fold's sweep sees prices[train_start:train_end] only."""
    strategies, refused = parameter_sets(strategy, grid)
    out = []
    for number, (train, test) in enumerate(fold_bounds(market.prices.size, folds), 1):
        span = _span(market, train[0], train[1])
        trained = sweep(span, strategies, refused=refused)
        best = trained.results[0]
        chosen = build(strategy, best.params)
        # The test reads the training span as warm-up history and trades only in its own span.
        tested = _span(market, train[0], test[1])
        result = run_backtest(
            tested.prices,
            chosen,
            market.risk,
            fee_rate=market.fee_rate,
            gbp=market.gbp,
            start=tested.start,
            observed=tested.observed,
            step=market.step,
            trade_from=test[0] - train[0],
        )
        out.append(
            Fold(
                train,
                test,
                best.params,
                best,
                SetResult.of(result),
                result.buy_and_hold_return,
                result.dca_return,
            )
        )
        if on_progress is not None:
            on_progress(number, folds)
    return WalkForward(out, market.step)


def _span(market: Market, start: int, end: int) -> Market:
    return Market(
        market.prices[start:end],
        market.start + timedelta(minutes=start * market.step),
        None if market.observed is None else market.observed[start:end],
        market.risk,
        market.fee_rate,
        market.gbp,
        market.step,
    )
