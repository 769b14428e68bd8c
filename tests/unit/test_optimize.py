"""Strategy plug-ins, the parameter sweep and walk-forward: real strategies, the real backtest
engine and the real CLI over synthetic prices (no stand-ins)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import kripto.strategies as package
from kripto.backtest.engine import run_backtest
from kripto.backtest.optimize import (
    GridError,
    Market,
    SetResult,
    fold_bounds,
    parameter_sets,
    parse_grid,
    sweep,
    walk_forward,
)
from kripto.backtest.synthetic import synthetic_prices
from kripto.cli import backtest as backtest_cli
from kripto.cli import optimize as optimize_cli
from kripto.risk import RiskSettings
from kripto.strategies import build, declaration, strategies, strategy_names

FEE = Decimal("0.005")
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def minute_guards(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests pin the engine's arithmetic at the seed's 0.5% fee with the protections off
    on every minute (the real defaults have tests of their own: test_fees.py,
    test_protections.py, test_real_sample.py)."""
    monkeypatch.setenv("KRIPTO_FEE_RATE", "0.005")
    monkeypatch.setenv("KRIPTO_BAR", "1m")  # minute strategies on minute prices
    for name in ("STOP_LOSS", "TRAILING_STOP", "MAX_DRAWDOWN", "STOP_LOSS_LIMIT"):
        monkeypatch.setenv(f"KRIPTO_{name}", "0")


def market(prices: np.ndarray) -> Market:
    return Market(prices, START, None, RiskSettings(), FEE, Decimal("1000"))


NEW_STRATEGY = """
from typing import ClassVar

import numpy as np

from kripto.strategies.base import Evaluation, Param, finish
from kripto.strategies.indicators import crossings, ema_span


class Momentum:
    name: ClassVar[str] = "momentum_test"
    summary: ClassVar[str] = "buy when the price crosses above its EMA"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("span", int, 2, 1000, 30, "EMA span, minutes"),
    )

    def __init__(self, span: int = 30) -> None:
        self.span = span

    def params(self) -> dict[str, str]:
        return {"span": str(self.span)}

    def min_points(self) -> int:
        return 2 * self.span

    def needs(self) -> str:
        return "the EMA"

    def evaluate(self, prices):
        line = ema_span(prices, self.span)
        up, down = crossings(prices - line, 0.0)
        signals = finish(up, down, self.min_points())
        return Evaluation(signals, np.full(prices.size, 0.05), {"ema": line})


STRATEGY = Momentum
"""


def test_a_new_strategy_file_is_picked_up_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file in the package is the whole change: the registry, build(), the grid and the
    backtest command see it."""
    (tmp_path / "momentum_test.py").write_text(NEW_STRATEGY)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    strategies.cache_clear()
    try:
        assert strategy_names() == ("dca", "ema_cross", "momentum_test", "rsi", "zscore")
        assert [p.name for p in declaration("momentum_test")] == ["span"]
        assert build("momentum_test", {"span": "40"}).params() == {"span": "40"}
        assert parse_grid("momentum_test", "span=10:30:10") == {"span": [10, 20, 30]}
        app = typer.Typer()
        backtest_cli.register(app)
        args = ["--synthetic", "2", "--strategy", "momentum_test", "--param", "span=20", "--json"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["params"] == {"span": "20"}
    finally:
        strategies.cache_clear()


def test_declarations_give_defaults_ranges_and_help() -> None:
    assert strategy_names() == ("dca", "ema_cross", "rsi", "zscore")
    period, low, _high = declaration("rsi")
    assert (period.kind, period.low, period.high, period.default) == (int, 2, 1260, 240)
    assert period.rule() == "a duration from 2m to 21h (such as 4h; a bare number is minutes)"
    assert low.rule() == "a number from 0.0 to 100.0"
    assert build("rsi", {}).params() == {"period": "240", "low": "40.0", "high": "60.0"}
    for name, cls in strategies().items():
        defaults = {p.name: p.default for p in cls.parameters}
        assert build(name, {}).params() == {k: str(v) for k, v in defaults.items()}
        assert all(p.help for p in cls.parameters)


@pytest.mark.parametrize(
    ("strategy", "grid", "message"),
    [
        ("rsi", "speed=1:2:1", "--grid 'speed=1:2:1': rsi has no parameter 'speed'; it takes"),
        ("rsi", "period", "--grid 'period': write name=start:stop:step or name=value"),
        ("rsi", "period=1:2", "--grid 'period=1:2': write period=start:stop:step"),
        ("rsi", "period=x:20:5", "--grid 'period=x:20:5': period must be a duration from 2m"),
        ("rsi", "period=10:2000:5", "--grid 'period=10:2000:5': period must be a duration"),
        ("rsi", "period=30:10:5", "--grid 'period=30:10:5': needs start <= stop and a positive"),
        ("rsi", "period=10:30:0", "--grid 'period=10:30:0': needs start <= stop and a positive"),
        ("rsi", "period=10,period=20", "--grid: period is given twice"),
        ("rsi", "", "--grid: name at least one parameter"),
        ("magic", "x=1", "--strategy: unknown strategy 'magic'; choose one of dca, ema_cross, rsi"),
        (
            "ema_cross",
            "short=2:5001:1,long=3:5000:1",
            "--grid: 24,990,000 parameter sets is more than 100,000",
        ),
    ],
)
def test_bad_grids_are_refused_naming_the_parameter(strategy: str, grid: str, message: str) -> None:
    with pytest.raises(GridError) as exc:
        parse_grid(strategy, grid)
    assert str(exc.value).startswith(message)


def test_grids_include_the_stop_and_skip_sets_the_strategy_refuses() -> None:
    grid = parse_grid("rsi", "period=60:180:60,low=40:60:10,high=50:60:10")
    assert grid == {"period": [60, 120, 180], "low": [40.0, 50.0, 60.0], "high": [50.0, 60.0]}
    built, refused = parameter_sets("rsi", grid)
    # low < high keeps (40,50), (40,60), (50,60) of the 6 pairs, for each of 3 periods.
    assert (len(built), refused) == (9, 9)
    with pytest.raises(GridError, match="every parameter set breaks the strategy's rules"):
        parameter_sets("rsi", parse_grid("rsi", "low=70,high=60"))


def test_the_sweep_gives_exactly_the_single_backtests_figures() -> None:
    prices = synthetic_prices(12, seed=7, regime="volatile")
    grid = parse_grid("rsi", "period=60:120:30,low=30:40:10,high=60:70:10")
    built, _ = parameter_sets("rsi", grid)
    result = sweep(market(prices), built)
    assert len(result.results) == 12
    by_params = {tuple(r.params.items()): r for r in result.results}
    for strategy in built[::3]:
        single = run_backtest(prices, strategy, RiskSettings(), fee_rate=FEE, gbp=Decimal(1000))
        assert by_params[tuple(strategy.params().items())] == SetResult.of(single)
        assert result.dca == single.dca_return
        assert result.buy_and_hold == single.buy_and_hold_return
    assert [r.total_return for r in result.results] == sorted(
        (r.total_return for r in result.results), reverse=True
    )
    assert any(r.trades for r in result.results)


def test_walk_forward_folds_never_look_ahead() -> None:
    assert fold_bounds(100, 3) == [((0, 25), (25, 50)), ((25, 50), (50, 75)), ((50, 75), (75, 100))]
    with pytest.raises(GridError, match="at least 1 fold"):
        fold_bounds(100, 0)
    prices = synthetic_prices(16, seed=3, regime="mix")
    grid = parse_grid("rsi", "period=60:90:30,low=30:40:10,high=60:70:10")
    folds = walk_forward(market(prices), "rsi", grid, 3).folds
    assert [(f.train, f.test) for f in folds] == fold_bounds(prices.size, 3)
    assert folds[0].train == (0, 4 * 1440) and folds[0].test == (4 * 1440, 8 * 1440)
    # What comes after a fold's training span cannot change its choice, nor its in-sample
    # figures; scrambling it changes what the fold reports out of sample.
    scrambled = prices.copy()
    scrambled[4 * 1440 :] = scrambled[4 * 1440 :][::-1]
    again = walk_forward(market(scrambled), "rsi", grid, 3).folds[0]
    assert (again.chosen, again.in_sample) == (folds[0].chosen, folds[0].in_sample)
    # The out-of-sample figure is the chosen set's backtest over the test span alone (the
    # training span only warms it up), its baselines over that span.
    test = run_backtest(
        prices[: 8 * 1440],
        build("rsi", folds[0].chosen),
        RiskSettings(),
        fee_rate=FEE,
        gbp=Decimal(1000),
        start=START,
        trade_from=4 * 1440,
    )
    assert folds[0].out_of_sample == SetResult.of(test)
    assert all(t.index >= 4 * 1440 for t in test.trades)
    assert test.start == START + timedelta(days=4)
    only_test = run_backtest(
        prices[4 * 1440 : 8 * 1440],
        build("rsi", {}),
        RiskSettings(),
        fee_rate=FEE,
        gbp=Decimal(1000),
    )
    assert folds[0].buy_and_hold == only_test.buy_and_hold_return
    assert folds[0].dca == only_test.dca_return


def test_the_optimize_command_end_to_end_on_a_csv(tmp_path: Path) -> None:
    prices = synthetic_prices(6, seed=11, regime="volatile")
    rows = ["time,price"] + [
        f"{(START + timedelta(minutes=m)).strftime('%Y-%m-%dT%H:%M:%SZ')},{p:.2f}"
        for m, p in enumerate(prices)
    ]
    path = tmp_path / "history.csv"
    path.write_text("\n".join(rows) + "\n")
    app = typer.Typer()
    optimize_cli.register(app)
    backtest_cli.register(app)
    heatmap = tmp_path / "heat.png"
    args = ["optimize", "--csv", str(path), "--strategy", "rsi", "--json", "--top", "3"]
    args += ["--grid", "period=30:60:30,low=30:40:10,high=60:70:10", "--walk-forward", "2"]
    result = CliRunner().invoke(app, [*args, "--plot", str(heatmap)])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert (figures["strategy"], figures["sets"], figures["refused"]) == ("rsi", 8, 0)
    assert len(figures["best"]) == 3 and len(figures["walkForward"]["folds"]) == 2
    assert heatmap.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = figures["best"][0]
    # optimize weighs every order at the taker rate (as KRIPTO_EXECUTION=taker).
    single = ["backtest", "--csv", str(path), "--strategy", "rsi", "--json", "--execution", "taker"]
    for key, value in best["params"].items():
        single += ["--param", f"{key}={value}"]
    alone = json.loads(CliRunner().invoke(app, single).stdout)
    assert alone["totalReturn"] == best["totalReturn"]
    assert (alone["trades"], alone["feesPaid"]) == (best["trades"], best["feesPaid"])
    assert figures["buyAndHoldReturn"] == alone["buyAndHoldReturn"]
    bad = CliRunner().invoke(app, ["optimize", "--csv", str(path), "--grid", "speed=1"])
    assert bad.exit_code == 2
    assert bad.output.startswith("error: --grid 'speed=1': dca has no parameter 'speed'")
    bad = CliRunner().invoke(app, [*args[:-2], "--walk-forward", "40"])
    assert bad.exit_code == 2
    # Counted in bars at the data's own resolution (KRIPTO_BAR=1m here): 8,640 minutes in 41
    # spans of 210, and an RSI of 1h needs four periods of 60 bars.
    assert bad.stderr == (
        "error: --walk-forward 40: each span would be 210 bars of 1m (3.5 h), and the grid's"
        " slowest set needs 240 (4 h) before its first signal\n"
    )
    fold = figures["walkForward"]["folds"][0]
    assert (fold["train"], fold["test"]) == (
        [START.isoformat(), (START + timedelta(days=2)).isoformat()],
        [(START + timedelta(days=2)).isoformat(), (START + timedelta(days=4)).isoformat()],
    )


def test_the_heatmap_finds_the_current_setting_on_its_grid() -> None:
    from kripto.backtest.plot import current_cell

    periods, lows = ["120", "240", "360"], ["30.0", "40.0"]
    assert current_cell(periods, lows, 240, 40) == (1, 1)  # the default rsi: 240, 40.0
    assert current_cell(periods, lows, "360", Decimal("30")) == (2, 0)
    assert current_cell(periods, lows, 200, 40) is None  # off the grid: said under the plot
    assert current_cell(["a", "b"], ["1"], "b", 1) == (1, 0)
