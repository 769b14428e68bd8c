"""The CLI as a user runs it, each a whole process from exec to exit:

- `kripto --help`, against `python -c pass` (the interpreter alone);
- `kripto backtest --csv` over a year of minutes (525,600 rows, written once to
  .kripto/bench/year.csv), against the engine alone on the same prices in-process; with the
  CSV parse alone beside it.

    .venv/bin/python -m benchmarks.cli_startup [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from benchmarks.common import write_json
from kripto.backtest.csvfile import read_prices
from kripto.backtest.engine import run_backtest
from kripto.composition import risk_from_settings, strategy_from_settings
from kripto.settings import Settings

KRIPTO = [sys.executable, "-m", "kripto"]
YEAR = 525_600


def year_csv(path: Path) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    walk = 60000 * np.exp(np.cumsum(np.random.default_rng(7).normal(0, 0.0008, YEAR)))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    lines = ["time,price"]
    lines += [
        f"{start + timedelta(minutes=i):%Y-%m-%dT%H:%M:%SZ},{p:.2f}" for i, p in enumerate(walk)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def process_seconds(args: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd="/tmp")
        times.append(time.perf_counter() - start)
    return times


def in_process(work: object, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return times


def main(runs: int) -> None:
    csv = year_csv(Path(".kripto/bench/year.csv").resolve())
    python = process_seconds([sys.executable, "-c", "pass"], runs)
    help_ = process_seconds([*KRIPTO, "--help"], runs)
    backtest = process_seconds([*KRIPTO, "backtest", "--csv", str(csv)], runs)
    prices, start, observed = read_prices(csv)
    settings = Settings(data_dir=Path("/tmp"))
    model, risk = (
        strategy_from_settings(settings.strategy),
        risk_from_settings(settings.risk, settings.strategy),
    )
    parse = in_process(lambda: read_prices(csv), runs)
    engine = in_process(
        lambda: run_backtest(
            prices,
            model,
            risk,
            fee_rate=settings.exchange.taker_fee,
            gbp=Decimal(1000),
            start=start,
            observed=observed,
        ),
        runs,
    )
    med = statistics.median
    print(f"{runs} runs each, median, whole processes from exec to exit")
    print(f"baseline: python -c pass                  {med(python) * 1000:7.0f} ms")
    print(f"kripto --help                             {med(help_) * 1000:7.0f} ms   (target < 300)")
    print(f"baseline: the engine alone on the year    {med(engine) * 1000:7.0f} ms")
    print(f"  the CSV parse alone (read_prices)       {med(parse) * 1000:7.0f} ms")
    print(
        f"kripto backtest --csv, a year of minutes  {med(backtest) * 1000:7.0f} ms   (target < 500)"
    )
    write_json(
        "cli_startup",
        {
            "runs": runs,
            "python_pass_ms": round(med(python) * 1000, 1),
            "help_ms": round(med(help_) * 1000, 1),
            "engine_alone_ms": round(med(engine) * 1000, 1),
            "csv_parse_ms": round(med(parse) * 1000, 1),
            "backtest_csv_process_ms": round(med(backtest) * 1000, 1),
        },
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
