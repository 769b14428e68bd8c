"""Parameter-sweep speed: 1,000 RSI parameter sets (10 periods x 10 lows x 10 highs) over a year
of synthetic minute prices (525,600 points), against the baseline of one single backtest per
set (the time of one full backtest, measured in the same run, times 1,000). Target: under 20 s.

    .venv/bin/python -m benchmarks.optimize_speed
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from benchmarks.common import write_json
from kripto.backtest.engine import run_backtest
from kripto.backtest.optimize import Market, parameter_sets, parse_grid, sweep
from kripto.backtest.synthetic import synthetic_prices
from kripto.risk import RiskSettings

GRID = "period=120:480:40,low=25:43:2,high=57:75:2"


def main() -> None:
    prices = synthetic_prices(365, seed=1)
    risk, fee, gbp = RiskSettings(), Decimal("0.005"), Decimal("1000")
    strategies, refused = parameter_sets("rsi", parse_grid("rsi", GRID))
    assert (len(strategies), refused) == (1000, 0)
    market = Market(prices, datetime(2026, 1, 1, tzinfo=UTC), None, risk, fee, gbp)
    started = time.perf_counter()
    result = sweep(market, strategies)
    seconds = time.perf_counter() - started
    singles = strategies[::200]  # five sets spread over the grid, each a full backtest alone
    started = time.perf_counter()
    for strategy in singles:
        run_backtest(prices, strategy, risk, fee_rate=fee, gbp=gbp)
    single = (time.perf_counter() - started) / len(singles)
    best = result.results[0]
    print(f"{prices.size:,} one-minute points (a year), rsi grid {GRID}")
    print(f"sweep of 1,000 sets: {seconds:.1f} s (target: under 20 s)")
    print(f"baseline, one single backtest x 1,000: {single * 1000:.1f} s ({single:.3f} s each)")
    print(f"the sweep is {single * 1000 / seconds:.1f}x the baseline")
    print(f"best: {best.params} {float(best.total_return):.2%}, {best.trades} trades")
    write_json(
        "optimize_speed",
        {"sets": 1000, "sweepSeconds": seconds, "singleBacktestSeconds": single},
    )


if __name__ == "__main__":
    main()
