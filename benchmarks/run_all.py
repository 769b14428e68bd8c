"""Every benchmark, one after the other (`make bench`). Each prints its figures against a
baseline measured in the same run and writes them as JSON to .kripto/bench/ (or
KRIPTO_BENCH_DIR); none of them is a test, and none has a pass mark.

    .venv/bin/python -m benchmarks.run_all [--scale-duration SECONDS]

The scale run (100, 200 and 500 markets on the `kripto dev` stack, three minutes each by
default) takes about 20 minutes and both cores; `--scale-duration 60` shortens it.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS: tuple[tuple[str, list[str]], ...] = (
    ("benchmarks.cli_startup", ["7"]),
    ("benchmarks.decide_latency", ["200"]),
    ("benchmarks.backtest_speed", []),
    ("benchmarks.optimize_speed", []),
    ("benchmarks.strategy_table", ["30", "1"]),
    ("benchmarks.strategy_seeds", []),
    ("benchmarks.tick_latency", ["30"]),
    ("benchmarks.trade_latency", ["30"]),
    ("benchmarks.dashboard_ready", ["10"]),
)


def main() -> int:
    duration = "180"
    if "--scale-duration" in sys.argv:
        duration = sys.argv[sys.argv.index("--scale-duration") + 1]
    scale = ("benchmarks.scale", ["--markets", "100,200,500", "--duration", duration])
    failed = 0
    for module, args in (*BENCHMARKS, scale):
        print(f"\n== {module} {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, "-m", module, *args], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
