"""The docs' research examples, run exactly as written: the backtests in docs/backtesting.md
trade and print what the page shows, and the walk-forward examples in docs/strategies.md run on
minute, hourly and daily data with fold dates in real times."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kripto.backtest.synthetic import synthetic_prices
from kripto.cli.main import _register_commands, app, with_optional_values

DOCS = Path(__file__).resolve().parents[2] / "docs"
EXAMPLE = re.compile(r"<!-- (?P<name>[a-z-]+):begin -->\n```console\n(?P<body>.*?)```", re.S)


def examples(page: str, name: str) -> list[tuple[str, str]]:
    """`$ kripto …` lines of a marked console block, each with the output shown under it."""
    text = (DOCS / page).read_text()
    found = [m for m in EXAMPLE.finditer(text) if m.group("name") == name]
    assert len(found) == 1, f"{page} has no block {name}"
    out: list[tuple[str, str]] = []
    for chunk in found[0].group("body").split("$ ")[1:]:
        command, _, shown = chunk.partition("\n")
        out.append((command, shown))
    return out


def run(command: str) -> tuple[int, str, str]:
    """A documented command line, exactly as written, in-process: exit code, stdout, stderr."""
    args = shlex.split(command)
    assert args[0] == "kripto", command
    args = with_optional_values(args[1:])
    _register_commands(args)
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sample_path: Path) -> Path:
    """The settings a new user has: no KRIPTO_* in the environment, no .env, and the real
    series cached where `--sample` looks (the data folder's samples/)."""
    for key in list(os.environ):
        if key.startswith("KRIPTO_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("KRIPTO_DATA_DIR", str(sample_path.parent.parent))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def minutes_csv(path: Path, days: int) -> None:
    """`days` of one-minute synthetic prices as a CSV (seed 1, the mix of regimes)."""
    prices = synthetic_prices(days, 1)
    start = np.datetime64("2025-01-01T00:00:00")
    times = (start + np.arange(prices.size).astype("timedelta64[m]")).astype(str)
    with path.open("w") as handle:
        handle.write("time,price\n")
        handle.writelines(f"{t}Z,{p:.2f}\n" for t, p in zip(times, prices, strict=True))


def test_the_backtest_examples_trade_and_print_what_the_page_shows(clean: Path) -> None:
    shown = examples("backtesting.md", "backtest-examples")
    assert len(shown) >= 3
    for command, expected in shown:
        code, stdout, _ = run(command)
        assert code == 0, (command, stdout)
        assert stdout == expected, command
        trades = re.search(r"│ trades\s+│ (\d+) ", stdout)
        assert trades is not None and int(trades.group(1)) > 0, command


def test_the_walk_forward_examples_run_on_minute_hourly_and_daily_data(clean: Path) -> None:
    minutes_csv(clean / "minutes.csv", 60)
    commands = [c for c, _ in examples("strategies.md", "walk-forward-examples")]
    sources = {
        "--csv minutes.csv": "1m",
        "--synthetic 150": "1m",
        "--sample coinbase-btcusd-1d": "1d",
        "--sample ": "1h",
    }
    seen = set()
    for command in commands:
        code, stdout, stderr = run(command)
        assert code == 0, (command, stdout, stderr)
        folds = json.loads(stdout)["walkForward"]["folds"]
        assert len(folds) == 4
        unit = next(u for s, u in sources.items() if s in command + " ")
        seen.add(unit)
        # Fold dates are real times, a whole span apart (not minutes from the start).
        first, last = (np.datetime64(folds[0]["test"][i][:19]) for i in (0, 1))
        span = (last - first) / np.timedelta64(1, "D")
        assert span > 10, (command, folds[0])
    assert seen == {"1m", "1h", "1d"}
