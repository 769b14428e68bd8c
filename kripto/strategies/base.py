from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from kripto.strategies.indicators import Floats

if TYPE_CHECKING:
    from kripto.settings import Settings

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
    name: str

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
    with np.errstate(divide="ignore", invalid="ignore"):
        below = (mean - prices) / mean
    edge: Floats = np.nan_to_num(np.where(signals == SELL, -below, below))
    return edge


#: The registry: each strategy's name, and its parameters (the keys of `params()` and of
#: `kripto backtest --param`) with the Settings field that holds each one.
PARAMETERS: dict[str, dict[str, str]] = {
    "ema_cross": {"short": "ema_short_minutes", "long": "ema_long_minutes"},
    "zscore": {"window": "zscore_window", "threshold": "zscore_threshold"},
    "rsi": {"period": "rsi_period", "low": "rsi_low", "high": "rsi_high"},
}
STRATEGY_NAMES: tuple[str, ...] = tuple(PARAMETERS)


def _classes() -> dict[str, Callable[..., Strategy]]:
    # Imported here: each strategy module imports this one.
    from kripto.strategies.ema_cross import EmaCross
    from kripto.strategies.rsi import Rsi
    from kripto.strategies.zscore import ZScore

    return {"ema_cross": EmaCross, "zscore": ZScore, "rsi": Rsi}


def strategy_from_settings(settings: Settings) -> Strategy:
    """The configured strategy, built once at start-up. A ValueError names the broken rule."""
    name = settings.strategy
    if name not in PARAMETERS:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")
    values = {key: getattr(settings, field) for key, field in PARAMETERS[name].items()}
    return _classes()[name](**values)
