"""The CLI's CSV backtest of a year of one-minute prices, as a whole process (`kripto backtest
--csv year.csv`: start-up, settings, reading 525,600 rows, the backtest and the table), beside
the same run on an earlier commit (the previous one unless `--against REV`), measured in one
run, the two in turn so a drift in the machine's speed hits both alike. The goal is under
0.5 s on the machine the figures in docs/backtesting.md came from.

    .venv/bin/python -m benchmarks.csv_backtest [--against REV] [--runs N]

The earlier commit's `kripto` package is exported with `git archive` into a temporary folder
and run from there with this venv (same Python, same dependencies)."""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import write_json
from kripto.backtest.synthetic import synthetic_prices

ROOT = Path(__file__).resolve().parent.parent


def year_csv(path: Path) -> None:
    """A year of one-minute synthetic prices (seed 1) in the usual CSV shape."""
    prices = synthetic_prices(365, 1)
    start = np.datetime64("2025-01-01T00:00:00")
    times = (start + np.arange(prices.size).astype("timedelta64[m]")).astype(str)
    with path.open("w") as handle:
        handle.write("time,price\n")
        handle.writelines(f"{t}Z,{p:.2f}\n" for t, p in zip(times, prices, strict=True))


def once(code: Path, csv: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one `python -m kripto backtest --csv` run from `code`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "kripto", "backtest", "--csv", str(csv)],
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"the run from {code} failed: {done.stderr.strip()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(args: list[str]) -> None:
    against, runs = "HEAD~1", 7
    if "--against" in args:
        against = args[args.index("--against") + 1]
    if "--runs" in args:
        runs = int(args[args.index("--runs") + 1])
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", against],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="kripto-csv-bench-") as folder:
        tmp = Path(folder)
        csv = tmp / "year.csv"
        year_csv(csv)
        earlier = tmp / "earlier"
        earlier.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "kripto"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(earlier)], input=archive, check=True)
        once(ROOT, csv), once(earlier, csv)  # warm-up: caches, .pyc files
        now: list[tuple[float, float]] = []
        then: list[tuple[float, float]] = []
        for _ in range(runs):
            now.append(once(ROOT, csv))
            then.append(once(earlier, csv))
    figures = {}
    print(f"kripto backtest --csv <a year of one-minute prices, 525,600 rows>, {runs} runs each")
    for label, rows in ((f"this commit ({head})", now), (f"earlier ({rev})", then)):
        wall = statistics.median(w for w, _ in rows)
        cpu = statistics.median(c for _, c in rows)
        figures[label] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}
        print(f"{label:<28} median {wall:.3f} s wall, {cpu:.3f} s CPU")
    ratio = statistics.median(a[0] / b[0] for a, b in zip(now, then, strict=True))
    print(f"this commit takes {ratio:.2f}x the earlier one's time (median of the pairs)")
    write_json("csv_backtest", {"against": rev, "head": head, "figures": figures, "ratio": ratio})


if __name__ == "__main__":
    main(sys.argv[1:])
