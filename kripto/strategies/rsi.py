"""RSI: buy when it falls below `low` (oversold), sell when it rises above `high` (overbought)."""

from __future__ import annotations

from typing import ClassVar

from kripto.strategies.base import (
    MINUTES_PER_WEEK,
    Evaluation,
    Param,
    finish,
    fmt_minutes,
    points,
    reversion_edge,
)
from kripto.strategies.indicators import Floats, crossings, rolling_mean_std
from kripto.strategies.indicators import rsi as rsi_line


class Rsi:
    summary: ClassVar[str] = "buy when Wilder's RSI falls below LOW, sell when it rises above HIGH"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("period", int, 2, MINUTES_PER_WEEK // 8, 240, "RSI period", duration=True),
        Param("low", float, 0.0, 100.0, 40.0, "buy when the RSI falls below this"),
        Param("high", float, 0.0, 100.0, 60.0, "sell when the RSI rises above this"),
    )
    name: ClassVar[str] = "rsi"

    def __init__(self, period: int = 240, low: float = 40.0, high: float = 60.0) -> None:
        if not 2 <= period <= MINUTES_PER_WEEK // 8:
            raise ValueError(
                f"the RSI period ({fmt_minutes(period)}) must be 2m to"
                f" {fmt_minutes(MINUTES_PER_WEEK // 8)}"
            )
        if not 0 < low < high < 100:
            raise ValueError(f"RSI levels must satisfy 0 < low ({low}) < high ({high}) < 100")
        self.period = period
        self.low = low
        self.high = high

    def params(self) -> dict[str, str]:
        return {"period": str(self.period), "low": str(self.low), "high": str(self.high)}

    def min_points(self, step: int = 1) -> int:
        return 4 * points(self.period, step)  # Wilder's smoothing, and the edge's mean

    def needs(self) -> str:
        return "the RSI"

    def bands(self) -> dict[str, tuple[float, float]]:
        """The levels the chart draws across the RSI panel."""
        return {"rsi": (self.low, self.high)}

    def says(self, indicators: dict[str, float]) -> str:
        """What the signal rests on, for a hold's reason: `RSI 28.3`."""
        return f"RSI {indicators.get('rsi', float('nan')):.1f}"

    def closeness(self, indicators: dict[str, float]) -> str:
        """How far from a signal: `RSI 50.9 (buy below 40, sell above 60)`."""
        rsi = indicators.get("rsi", float("nan"))
        return f"RSI {rsi:.1f} (buy below {self.low:g}, sell above {self.high:g})"

    def evaluate(self, prices: Floats, step: int = 1) -> Evaluation:
        period = points(self.period, step)
        line = rsi_line(prices, period)
        _, buy = crossings(line, self.low)  # falls below low
        sell, _ = crossings(line, self.high)  # rises above high
        # Expected edge: the way back to the mean over four periods, in the signal's direction.
        mean, _ = rolling_mean_std(prices, 4 * period)
        signals = finish(buy, sell, self.min_points(step))
        return Evaluation(
            signals, reversion_edge(prices, mean, signals), {"rsi": line, "mean": mean}
        )


STRATEGY = Rsi
