"""Mean reversion: buy when the price falls `threshold` standard deviations below its rolling
mean, sell when it rises as far above it."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from kripto.strategies.base import (
    MINUTES_PER_WEEK,
    Evaluation,
    Param,
    finish,
    points,
    reversion_edge,
)
from kripto.strategies.indicators import Floats, crossings, rolling_mean_std


class ZScore:
    summary: ClassVar[str] = "buy THRESHOLD std devs below the rolling mean, sell as far above"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("window", int, 10, MINUTES_PER_WEEK // 2, 1440, "rolling window", duration=True),
        Param("threshold", float, 0.01, 10.0, 1.5, "standard deviations from the mean"),
    )
    name: ClassVar[str] = "zscore"

    def __init__(self, window: int = 1440, threshold: float = 1.5) -> None:
        if not 10 <= window <= MINUTES_PER_WEEK // 2:
            raise ValueError(f"the z-score window ({window}) must be 10 to {MINUTES_PER_WEEK // 2}")
        if not threshold > 0:
            raise ValueError("the z-score threshold must be positive")
        self.window = window
        self.threshold = threshold

    def params(self) -> dict[str, str]:
        return {"window": str(self.window), "threshold": str(self.threshold)}

    def min_points(self, step: int = 1) -> int:
        return points(self.window, step, 3)

    def needs(self) -> str:
        return "the rolling window"

    def bands(self) -> dict[str, tuple[float, float]]:
        """The levels the chart draws across the z-score panel."""
        return {"zscore": (-self.threshold, self.threshold)}

    def says(self, indicators: dict[str, float]) -> str:
        """What the signal rests on, for a hold's reason: `z-score -1.62`."""
        return f"z-score {indicators.get('zscore', float('nan')):.2f}"

    def closeness(self, indicators: dict[str, float]) -> str:
        z = indicators.get("zscore", float("nan"))
        return f"z-score {z:+.2f} (buy below {-self.threshold:g}, sell above {self.threshold:g})"

    def evaluate(self, prices: Floats, step: int = 1) -> Evaluation:
        mean, std = rolling_mean_std(prices, self.min_points(step))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(std > 0, (prices - mean) / std, 0.0)
        z[np.isnan(mean)] = np.nan
        buy, _ = crossings(-z, self.threshold)  # z falls below -threshold
        sell, _ = crossings(z, self.threshold)  # z rises above +threshold
        # Expected edge: the way back to the mean, |z| * std / mean, in the signal's direction.
        signals = finish(buy, sell, self.min_points(step))
        return Evaluation(
            signals, reversion_edge(prices, mean, signals), {"zscore": z, "mean": mean}
        )


STRATEGY = ZScore
