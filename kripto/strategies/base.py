from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from kripto.strategies.indicators import Floats, below_mean

BUY, HOLD, SELL = 1, 0, -1
MINUTES_PER_WEEK = 7 * 24 * 60


@dataclass(frozen=True)
class Evaluation:
    """A strategy's view of every point: its signal (+1 buy, -1 sell, 0 hold), the expected edge
    of acting there (a fraction of the price, compared with the round-trip fee), and the
    indicator lines it used."""

    signals: NDArray[np.int8]
    edge: Floats
    indicators: dict[str, Floats]

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

    def rule(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        return f"{what} from {self.kind(self.low)} to {self.kind(self.high)}"

    def parse(self, text: str | int | float) -> int | float:
        """The value, or a ValueError naming the parameter and its rule."""
        try:
            value = self.kind(text) if not isinstance(text, str) else self.kind(text.strip())
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} must be {self.rule()}, not {text!r}") from None
        if self.kind is int and isinstance(text, float) and text != int(text):
            raise ValueError(f"{self.name} must be {self.rule()}, not {text!r}")
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name} must be {self.rule()}, not {text!r}")
        return value
