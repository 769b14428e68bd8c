"""The original decider's idea, done right: EMAs of prices oldest first, with spans that fit in
the week of minutes it reads, and a cross detected between the two newest points."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from kripto.strategies.base import MINUTES_PER_WEEK, SELL, Evaluation, Param, finish, points
from kripto.strategies.indicators import Floats, crossings, ema_span


class EmaCross:
    summary: ClassVar[str] = "buy when the short EMA crosses above the long EMA, sell when below"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("short", int, 2, MINUTES_PER_WEEK // 2, 360, "span of the short EMA", duration=True),
        Param("long", int, 3, MINUTES_PER_WEEK // 2, 1440, "span of the long EMA", duration=True),
    )
    name: ClassVar[str] = "ema_cross"

    def __init__(self, short: int = 360, long: int = 1440) -> None:
        if not 2 <= short < long:
            raise ValueError(
                f"the short EMA span ({short}) must be at least 2 and less than the long"
                f" span ({long})"
            )
        if long > MINUTES_PER_WEEK // 2:
            raise ValueError(
                f"the long EMA span ({long} minutes) must fit in half a week of minutes"
                f" ({MINUTES_PER_WEEK // 2}), so a week of data can warm it up"
            )
        self.short = short
        self.long = long

    def params(self) -> dict[str, str]:
        return {"short": str(self.short), "long": str(self.long)}

    def min_points(self, step: int = 1) -> int:
        """Two long spans: by then the first price weighs under 2% in the long EMA (e^-4), where
        after one span it would still weigh about 13.5% (e^-2)."""
        return 2 * points(self.long, step)

    def needs(self) -> str:
        return "the long EMA"

    def says(self, indicators: dict[str, float]) -> str:
        """What the signal rests on, for a hold's reason: the cross and the gap after it."""
        short, long = indicators.get("ema_short", float("nan")), indicators.get("ema_long", 1.0)
        gap = round((short - long) / long, 5) + 0.0
        return f"the EMA cross (short {gap:+.3%} from the long)"

    def closeness(self, indicators: dict[str, float]) -> str:
        """How far from a cross: the short EMA's distance above or below the long one."""
        short, long = indicators.get("ema_short", float("nan")), indicators.get("ema_long", 1.0)
        gap = round((short - long) / long, 5) + 0.0  # no -0.000% from rounding noise
        side = "sell when it crosses below" if gap >= 0 else "buy when it crosses above"
        return f"short EMA {gap:+.3%} from the long EMA ({side})"

    def evaluate(self, prices: Floats, step: int = 1) -> Evaluation:
        span_long = points(self.long, step, 3)
        short = ema_span(prices, points(self.short, step))
        long = ema_span(prices, span_long)
        gap = short - long
        gap[np.abs(gap) <= 1e-9 * long] = 0.0  # rounding noise on a flat line is not a cross
        up, down = crossings(gap, 0.0)
        # Expected edge: how far the long EMA moved over the last long span (or since the first
        # point) *in the direction the signal bets on*: up for a buy, down for a sell. Not the
        # gap |short - long| / long: at a cross that gap is about zero by definition.
        earlier = np.concatenate((np.full(min(span_long, prices.size), long[0]), long))
        trend = (long - earlier[: prices.size]) / long
        signals = finish(up, down, self.min_points(step))
        edge = np.where(signals == SELL, -trend, trend)
        return Evaluation(signals, edge, {"ema_short": short, "ema_long": long})


STRATEGY = EmaCross
