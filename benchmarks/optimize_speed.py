"""Parameter-sweep speed: 1,000 RSI parameter sets (10 periods x 10 lows x 10 highs) over a year
of synthetic minute prices (525,600 points), against the baseline of one single backtest per
set (the time of one full backtest, measured in the same run, times 1,000). Target: under 20 s.

Where vectorbt is installed (the benchmark-only `bench` extra: `make bench` installs it; Kripto
never imports it at run time), the same grid also runs through vectorbt in the same run, and the
ratio of the two times is printed. vectorbt's simulation is simpler than Kripto's (all in / all
out, no risk guards, no edge-versus-fee check, and its RSI smooths with span = period rather than
Wilder's 1/period), so the ratio compares the grid machinery, not identical trading rules.

    .venv/bin/python -m benchmarks.optimize_speed
"""

from __future__ import annotations

import gc
import importlib.util
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from benchmarks.common import write_json
from kripto.backtest.engine import run_backtest
from kripto.backtest.optimize import Market, parameter_sets, parse_grid, sweep
from kripto.backtest.synthetic import synthetic_prices
from kripto.risk import RiskSettings
from kripto.strategies.indicators import Floats

GRID = "period=120:480:40,low=25:43:2,high=57:75:2"
FEE_RATE = 0.005
GBP = 1000.0


def vectorbt_sweep(vbt: Any, prices: Floats, grid: dict[str, list[Any]]) -> tuple[float, str]:
    """The grid through vectorbt: every RSI period in one `RSI.run`, then one period at a time
    (its 100 low x high pairs as columns, so each boolean array is 525,600 x 100, about 53 MB,
    not 525 MB for all 1,000) into `Portfolio.from_signals`. Returns the seconds taken and the
    best set with its return, so the work cannot be skipped unnoticed."""
    import pandas as pd  # a dev dependency, and vectorbt's own

    periods, lows, highs = grid["period"], grid["low"], grid["high"]
    low_row = np.repeat(np.asarray(lows, dtype=float), len(highs))[None, :]
    high_row = np.tile(np.asarray(highs, dtype=float), len(lows))[None, :]
    close = pd.Series(prices)
    started = time.perf_counter()
    rsi = vbt.RSI.run(close, window=periods, ewm=True).rsi
    lines = rsi.to_numpy().reshape(prices.size, len(periods))
    best, best_return = "", -np.inf
    for k, period in enumerate(periods):
        line = pd.Series(lines[:, k])
        entries = line.vbt.crossed_below(low_row)  # falls below low
        exits = line.vbt.crossed_above(high_row)  # rises above high
        portfolio = vbt.Portfolio.from_signals(
            close, entries, exits, fees=FEE_RATE, init_cash=GBP, size=np.inf, freq="1min"
        )
        returns = np.asarray(portfolio.total_return(), dtype=float)
        column = int(np.argmax(returns))
        if returns[column] > best_return:
            best_return = float(returns[column])
            best = f"period={period} low={low_row[0, column]} high={high_row[0, column]}"
        # vectorbt's cached results hold reference cycles: without a collection here each
        # 100-set chunk's ~2 GB would pile up (11 GB peak over the ten chunks).
        del line, entries, exits, portfolio
        gc.collect()
    seconds = time.perf_counter() - started
    return seconds, f"{best} {best_return:.2%}"


def main() -> None:
    prices = synthetic_prices(365, seed=1)
    risk, fee, gbp = RiskSettings(), Decimal("0.005"), Decimal("1000")
    grid = parse_grid("rsi", GRID)
    strategies, refused = parameter_sets("rsi", grid)
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
    figures: dict[str, object] = {
        "sets": 1000,
        "sweepSeconds": seconds,
        "singleBacktestSeconds": single,
    }
    if importlib.util.find_spec("vectorbt") is None:
        print("vectorbt: skipped (not installed; `make bench` installs the bench extra with it)")
    else:
        import vectorbt as vbt

        # Numba compiles vectorbt's kernels on first use: a small warm-up keeps that out of the
        # timing (Kripto's sweep compiles nothing), and is reported on its own.
        small = {"period": grid["period"][:1], "low": grid["low"], "high": grid["high"]}
        warm_up, _ = vectorbt_sweep(vbt, prices[:5000], small)
        vbt_seconds, vbt_best = vectorbt_sweep(vbt, prices, grid)
        print(
            f"vectorbt {vbt.__version__}: {vbt_seconds:.1f} s for 1,000 sets "
            f"(Kripto's sweep is {seconds / vbt_seconds:.2f}x vectorbt's time, so vectorbt "
            f"takes {vbt_seconds / seconds:.1f}x as long; numba warm-up {warm_up:.1f} s, "
            "not counted)"
        )
        print(f"vectorbt best: {vbt_best}")
        print(
            "  note: vectorbt's simulation is simpler than Kripto's (all in/all out, no risk "
            "guards, span-based RSI), so the ratio compares the grid machinery, not identical "
            "trading rules"
        )
        figures |= {
            "vectorbtVersion": vbt.__version__,
            "vectorbtSeconds": vbt_seconds,
            "vectorbtWarmUpSeconds": warm_up,
            "sweepOverVectorbt": seconds / vbt_seconds,
        }
    write_json("optimize_speed", figures)


if __name__ == "__main__":
    main()
