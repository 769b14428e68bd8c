"""Dollar-cost averaging: buy a set amount every interval, whatever the price, optionally more
when the price is below its recent mean (the dip weighting). It never sells.

A strategy here sees prices, not times, so the interval is kept by the guards from the last
buy (`every`): the decider and the backtester hold until `every` has passed since this
product's last buy. The decider reads a day of trades, so `every` is at most a day."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from kripto.strategies.base import BUY, Evaluation, Param, fmt_minutes, points
from kripto.strategies.indicators import Floats, below_mean, rolling_mean_std

#: The mean a dip is measured from: three days.
DIP_WINDOW_MINUTES = 3 * 1440


class Dca:
    summary: ClassVar[str] = "buy AMOUNT every EVERY, more below the 3-day mean with DIP > 0"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("every", int, 60, 1440, 1440, "time between buys", duration=True),
        Param("amount", float, 1.0, 100_000.0, 10.0, "quote currency per buy"),
        Param("dip", float, 0.0, 100.0, 0.0, "extra weight per unit of the dip below the mean"),
    )
    name: ClassVar[str] = "dca"

    def __init__(self, every: int = 1440, amount: float = 10.0, dip: float = 0.0) -> None:
        if not 60 <= every <= 1440:
            raise ValueError(f"the DCA interval ({fmt_minutes(every)}) must be 1h to 1d")
        self.every = every
        self.amount = amount
        self.dip = dip

    def params(self) -> dict[str, str]:
        return {"every": str(self.every), "amount": str(self.amount), "dip": str(self.dip)}

    def min_points(self, step: int = 1) -> int:
        return points(DIP_WINDOW_MINUTES, step) if self.dip else 1

    def needs(self) -> str:
        return "the dip's 3-day mean" if self.dip else "its first price"

    def closeness(self, indicators: dict[str, float]) -> str:
        return f"DCA buys every {fmt_minutes(self.every)}"

    def evaluate(self, prices: Floats, step: int = 1) -> Evaluation:
        signals = np.full(prices.size, BUY, dtype=np.int8)
        amounts = np.full(prices.size, self.amount)
        indicators: dict[str, Floats] = {}
        if self.dip:
            mean, _ = rolling_mean_std(prices, points(DIP_WINDOW_MINUTES, step))
            below = np.nan_to_num(below_mean(mean, prices))
            amounts = amounts * (1.0 + self.dip * np.clip(below, 0.0, None))
            indicators["mean"] = mean
        signals[: max(0, self.min_points(step) - 1)] = 0
        # DCA bets on no move, so the fee guard's edge test does not apply: an edge of 100%.
        return Evaluation(signals, np.ones(prices.size), indicators, amounts)


STRATEGY = Dca
