"""Every benchmark, one after the other (`make bench`). Each prints its figures against a
baseline measured in the same run; none of them is a test, and none has a pass mark.

    .venv/bin/python -m benchmarks.run_all
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS: tuple[tuple[str, list[str]], ...] = (
    ("benchmarks.backtest_speed", []),
    ("benchmarks.strategy_table", ["30", "1"]),
    ("benchmarks.strategy_seeds", []),
    ("benchmarks.tick_latency", ["30"]),
    ("benchmarks.trade_latency", ["30"]),
    ("benchmarks.dashboard_ready", ["10"]),
)


def main() -> int:
    failed = 0
    for module, args in BENCHMARKS:
        print(f"\n== {module} {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, "-m", module, *args], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
