"""Backtest speed: a year of minute prices (525,600 points) with the default strategy, against
a plain Python loop computing the same strategy's signals over the same prices (the baseline,
measured in the same run).

    .venv/bin/python -m benchmarks.backtest_speed
"""

from __future__ import annotations

import time
from decimal import Decimal

import numpy as np

from kripto.backtest.engine import run_backtest
from kripto.backtest.synthetic import synthetic_prices
from kripto.composition import risk_from_settings, strategy_from_settings
from kripto.settings import Settings
from kripto.strategies.ema_cross import EmaCross
from kripto.strategies.indicators import Floats

POINTS = 525_600


def best_of(runs: int, work: object) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def python_loop_ema_cross(prices: Floats, short: int, long: int) -> list[int]:
    """The same EMA cross, one point at a time in plain Python."""
    a_short, a_long = 2 / (short + 1), 2 / (long + 1)
    s = lo = float(prices[0])
    previous_gap = 0.0
    signals = []
    for price in prices.tolist():
        s += a_short * (price - s)
        lo += a_long * (price - lo)
        gap = s - lo
        signals.append(1 if gap > 0 >= previous_gap else -1 if gap < 0 <= previous_gap else 0)
        previous_gap = gap
    return signals


def main() -> None:
    prices = synthetic_prices(POINTS // 1440, seed=1)
    settings = Settings()  # the defaults: strategy, parameters and guards
    default = strategy_from_settings(settings.strategy)
    risk = risk_from_settings(settings.risk, settings.strategy)

    def backtest(strategy: object) -> None:
        run_backtest(prices, strategy, risk, fee_rate=Decimal("0.005"), gbp=Decimal("1000"))  # type: ignore[arg-type]

    ema = EmaCross()
    seconds = best_of(5, lambda: backtest(default))
    ema_seconds = best_of(5, lambda: backtest(ema))
    loop_seconds = best_of(2, lambda: python_loop_ema_cross(prices, ema.short, ema.long))
    print(f"{POINTS:,} one-minute points (a year), best of 5")
    print(
        f"full backtest, default strategy ({default.name}): {seconds:.3f} s,"
        f" {POINTS / seconds:,.0f} points/s"
    )
    print(
        f"full backtest, ema_cross:                 {ema_seconds:.3f} s,"
        f" {POINTS / ema_seconds:,.0f} points/s"
    )
    print(
        f"baseline, ema_cross signals in a Python loop: {loop_seconds:.3f} s,"
        f" {POINTS / loop_seconds:,.0f} points/s"
    )
    print(
        f"the ema_cross backtest is {loop_seconds / ema_seconds:.1f}x the Python loop's speed,"
        " and does the guards and fills besides"
    )
    looped = np.array(python_loop_ema_cross(prices, ema.short, ema.long), dtype=np.int8)
    looped[: ema.min_points() - 1] = 0  # the strategy gives no signal before its warm-up
    vectorised = ema.evaluate(prices).signals
    mismatches = int(np.count_nonzero(looped != vectorised))
    print(f"check: {np.count_nonzero(vectorised)} signals, {mismatches} differ from the loop's")


if __name__ == "__main__":
    main()
