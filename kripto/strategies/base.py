from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from kripto.strategies.indicators import Floats, below_mean

BUY, HOLD, SELL = 1, 0, -1
MINUTES_PER_WEEK = 7 * 24 * 60
_DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d)\s*$")
_MINUTES = {"m": 1, "h": 60, "d": 1440}


def fmt_minutes(minutes: int) -> str:
    """240 → `4h`, 90 → `90m`, 2880 → `2d`."""
    if minutes and minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def duration_minutes(text: str) -> int:
    """`4h` → 240, `90m` → 90, `2d` → 2880, `30` → 30 (a bare number is minutes)."""
    match = _DURATION.match(text)
    if match:
        return int(match.group(1)) * _MINUTES[match.group(2)]
    return int(text)


def points(minutes: int, step: int, least: int = 2) -> int:
    """A duration as a number of points `step` minutes apart (at least `least`)."""
    return max(least, round(minutes / step))


def evaluate_at(strategy: Strategy, prices: Floats, step: int) -> Evaluation:
    """The strategy over points `step` minutes apart: its durations become that many fewer
    points, so an hourly series gives hourly indicators. A strategy that knows only minutes
    (its `evaluate` takes no step) can run on minutes alone."""
    if step == 1:
        return strategy.evaluate(prices)
    try:
        return strategy.evaluate(prices, step)  # type: ignore[call-arg]
    except TypeError as exc:
        if "positional argument" not in str(exc):
            raise
        raise ValueError(f"{strategy.name} works on one-minute prices only") from None


def min_points_at(strategy: Strategy, step: int) -> int:
    if step == 1:
        return strategy.min_points()
    return strategy.min_points(step)  # type: ignore[call-arg]


@dataclass(frozen=True)
class Evaluation:
    """A strategy's view of every point: its signal (+1 buy, -1 sell, 0 hold), the expected edge
    of acting there (a fraction of the price, compared with the round-trip fee), and the
    indicator lines it used."""

    signals: NDArray[np.int8]
    edge: Floats
    indicators: dict[str, Floats]
    #: How much to buy at each point, in the quote currency, for a strategy that says (DCA);
    #: None: the risk guards size every trade.
    amounts: Floats | None = None

    def last_indicators(self) -> dict[str, float]:
        return {name: float(line[-1]) for name, line in self.indicators.items()}


class Strategy(Protocol):
    """A strategy is one module in this package that sets `STRATEGY = TheClass`; the class
    declares its `name`, one-line `summary` and `parameters`, and takes them as keyword
    arguments (see docs/strategies.md, "Adding a strategy")."""

    name: ClassVar[str]
    summary: ClassVar[str]
    parameters: ClassVar[tuple[Param, ...]]

    def params(self) -> dict[str, str]: ...

    def min_points(self) -> int:
        """Points needed before its first signal; fewer means hold."""
        ...

    def needs(self) -> str:
        """What the points are needed for, e.g. "the long EMA"."""
        ...

    def evaluate(self, prices: Floats) -> Evaluation:
        """Signals for prices oldest first; no point's signal looks at a later point."""
        ...


def finish(buy: NDArray[np.bool_], sell: NDArray[np.bool_], warm_up: int) -> NDArray[np.int8]:
    signals = np.zeros(buy.size, dtype=np.int8)
    signals[buy] = BUY
    signals[sell] = SELL
    signals[: max(0, warm_up - 1)] = HOLD  # no signal before the indicators are warm
    return signals


def reversion_edge(prices: Floats, mean: Floats, signals: NDArray[np.int8]) -> Floats:
    """What a mean-reversion signal expects to gain: the way back to the mean as a fraction of
    it, positive when the price is on the side the signal bets on (below the mean for a buy,
    above it for a sell), negative when it is not."""
    below = below_mean(mean, prices)
    edge: Floats = np.nan_to_num(np.where(signals == SELL, -below, below))
    return edge


@dataclass(frozen=True)
class Param:
    """One declared strategy parameter: what `KRIPTO_STRATEGY_PARAMS`, `--param`, the
    optimizer's `--grid`, `kripto config` and docs/strategies.md all read. Rules that tie two
    parameters together (low < high) stay in the strategy's constructor."""

    name: str
    kind: type[int] | type[float]
    low: float
    high: float
    default: int | float
    help: str
    #: A duration in minutes: `4h`, `90m`, `2d`, or a bare number of minutes (the older form).
    duration: bool = False

    def rule(self) -> str:
        if self.duration:
            low, high = fmt_minutes(int(self.low)), fmt_minutes(int(self.high))
            return f"a duration from {low} to {high} (such as 4h; a bare number is minutes)"
        what = "an integer" if self.kind is int else "a number"
        return f"{what} from {self.kind(self.low)} to {self.kind(self.high)}"

    def parse(self, text: str | int | float) -> int | float:
        """The value, or a ValueError naming the parameter and its rule."""
        try:
            if self.duration and isinstance(text, str) and (m := _DURATION.match(text)):
                minutes = int(m.group(1)) * _MINUTES[m.group(2)]
                text = str(minutes)
            value = self.kind(text) if not isinstance(text, str) else self.kind(text.strip())
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} must be {self.rule()}, not {text!r}") from None
        if self.kind is int and isinstance(text, float) and text != int(text):
            raise ValueError(f"{self.name} must be {self.rule()}, not {text!r}")
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name} must be {self.rule()}, not {text!r}")
        return value
