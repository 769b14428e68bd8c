"""Every benchmark, one after the other (`make bench`). Each prints its figures against a
baseline measured in the same run and writes them as JSON to .kripto/bench/ (or
KRIPTO_BENCH_DIR); none of them is a test, and none has a pass mark.

    .venv/bin/python -m benchmarks.run_all [--scale-minutes MINUTES]

The scale run (a tick per market at 100 markets for a minute, the baseline, then one tick per
exchange for 2,000 markets for five minutes, on the `kripto dev` stack) takes about 12 minutes
and both cores; `--scale-minutes 2` shortens it.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS: tuple[tuple[str, list[str]], ...] = (
    ("benchmarks.cli_startup", ["7"]),
    ("benchmarks.decide_latency", ["200"]),
    ("benchmarks.backtest_speed", []),
    ("benchmarks.csv_backtest", ["--against", "main"]),
    ("benchmarks.optimize_speed", []),
    ("benchmarks.strategy_table", []),
    ("benchmarks.strategy_seeds", []),
    ("benchmarks.tick_latency", ["30"]),
    ("benchmarks.trade_latency", ["30"]),
    ("benchmarks.dashboard_ready", ["10"]),
)


def main() -> int:
    minutes = "5"
    if "--scale-minutes" in sys.argv:
        minutes = sys.argv[sys.argv.index("--scale-minutes") + 1]
    scale = ("benchmarks.scale", ["--markets", "2000", "--minutes", minutes])
    failed = 0
    for module, args in (*BENCHMARKS, scale):
        print(f"\n== {module} {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, "-m", module, *args], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
