"""The backtester: the paper exchange's arithmetic on each trade, no look-ahead, the reports,
the CSV format, the synthetic regimes, the chart and the command."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from kripto.backtest.csvfile import CsvError, read_prices
from kripto.backtest.engine import run_backtest
from kripto.backtest.plot import plot_backtest
from kripto.backtest.report import report
from kripto.backtest.synthetic import synthetic_prices
from kripto.cli import backtest as backtest_cli
from kripto.db import connect
from kripto.db.rates import RateRepository
from kripto.fills import market_fill
from kripto.models import Rate, Side
from kripto.risk import RiskSettings
from kripto.strategies.ema_cross import EmaCross
from kripto.strategies.rsi import Rsi

FEE = Decimal("0.005")
RISK = RiskSettings(daily_spend_limit_gbp=Decimal("100000"))
UP_THEN_DOWN = np.array([100.0] * 40 + [120.0] * 40 + [90.0] * 10)


@pytest.fixture(autouse=True)
def minute_guards(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests pin the engine's arithmetic at the seed's 0.5% fee with the protections off
    on every minute (the real defaults have tests of their own: test_fees.py,
    test_protections.py, test_real_sample.py)."""
    monkeypatch.setenv("KRIPTO_FEE_RATE", "0.005")
    monkeypatch.setenv("KRIPTO_BAR", "1m")  # minute strategies on minute prices
    for name in ("STOP_LOSS", "TRAILING_STOP", "MAX_DRAWDOWN", "STOP_LOSS_LIMIT"):
        monkeypatch.setenv(f"KRIPTO_{name}", "0")


def test_each_trade_costs_what_a_paper_trade_costs() -> None:
    result = run_backtest(UP_THEN_DOWN, EmaCross(2, 5), RISK, fee_rate=FEE, gbp=Decimal("1000"))
    assert [(t.index, t.fill.side) for t in result.trades] == [(40, Side.BUY), (80, Side.SELL)]
    buy = market_fill(Side.BUY, Decimal("150.00"), Decimal("120.0"), FEE)
    assert result.trades[0].fill == buy
    held_value = (buy.filled_size * Decimal("90.0")).quantize(Decimal("0.01"), "ROUND_DOWN")
    assert held_value == Decimal("111.94")
    sell = market_fill(Side.SELL, Decimal("16.79"), Decimal("90.0"), FEE)  # 15% of £111.94
    assert result.trades[1].fill == sell
    assert result.final_gbp == Decimal("1000") + buy.gbp_change + sell.gbp_change
    assert result.final_btc == buy.filled_size - sell.filled_size
    assert result.fees_paid == buy.fill_fees + sell.fill_fees
    assert (result.round_trips, result.winning_round_trips) == (1, 0)


def test_appending_future_prices_never_changes_an_earlier_trade() -> None:
    prices = synthetic_prices(20, seed=5, regime="volatile")
    strategy = Rsi(60, 35, 65)
    full = run_backtest(prices, strategy, RISK, fee_rate=FEE, gbp=Decimal("1000"))
    assert len(full.trades) > 4
    for cut in (5_000, 17_000):
        partial = run_backtest(
            prices[:cut].copy(), strategy, RISK, fee_rate=FEE, gbp=Decimal("1000")
        )
        assert partial.trades == [t for t in full.trades if t.index < cut]


def test_the_report_compares_with_buy_and_hold_and_daily_dca() -> None:
    prices = np.linspace(100.0, 200.0, 2 * 1440)  # doubles over two days
    result = run_backtest(prices, EmaCross(30, 120), RISK, fee_rate=FEE, gbp=Decimal("1000"))
    figures = report(result)
    # Buy and hold: £1000 buys 4.97512437 BTC at 100 (funds 995.02487562); worth 995.02… at 200.
    assert figures["buyAndHoldReturn"] == "99.00%"
    # Daily DCA: £500.00 at 100.00 on day one, £500.00 at 150.02 (minute 1440) on day two.
    day_one = market_fill(Side.BUY, Decimal("500.00"), Decimal("100.00"), FEE)
    day_two = market_fill(Side.BUY, Decimal("500.00"), Decimal("150.02"), FEE)
    worth = (day_one.filled_size + day_two.filled_size) * Decimal("200.00")
    leftover = Decimal("1000") + day_one.gbp_change + day_two.gbp_change
    assert figures["dailyDcaReturn"] == f"{((worth + leftover) / 1000 - 1) * 100:.2f}%" == "65.83%"
    assert figures["points"] == 2880
    assert set(figures) >= {"totalReturn", "trades", "feesPaid", "maxDrawdown", "winningRoundTrips"}
    assert isinstance(figures["feesPaid"], str)


def test_synthetic_regimes_are_deterministic_and_different() -> None:
    up = synthetic_prices(30, seed=1, regime="up")
    assert np.array_equal(up, synthetic_prices(30, seed=1, regime="up"))
    assert not np.array_equal(up, synthetic_prices(30, seed=2, regime="up"))
    assert up[-1] > up[0]
    assert synthetic_prices(30, seed=1, regime="down")[-1] < synthetic_prices(30, 1, "down")[0]
    sideways = synthetic_prices(30, seed=1, regime="sideways")
    assert abs(sideways[-1] / sideways[0] - 1) < 0.05
    assert synthetic_prices(8, seed=1).size == 8 * 1440


def test_csv_prices_fill_gaps_onto_minutes(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(
        "time,price\n2026-01-01T00:00:00Z,100.50\n2026-01-01T00:01:00Z,101.00\n"
        "2026-01-01T00:04:00Z,99.25\n"
    )
    prices, start, observed = read_prices(path)
    assert prices.tolist() == [100.5, 101.0, 101.0, 101.0, 99.25]
    assert observed.tolist() == [True, True, False, False, True]
    assert start.isoformat() == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize("tail", ["Z", "+00:00", ""])
def test_the_whole_file_reader_reads_exactly_what_the_row_reader_reads(
    tmp_path: Path, tail: str
) -> None:
    """The numpy path (the usual shape) and the row path agree to the last bit, leap days,
    month ends and gaps included."""
    from kripto.backtest.csvfile import _fast, _read_rows

    start = datetime(2024, 2, 28, 23, 58, tzinfo=UTC)
    rows = [
        f"{start + timedelta(minutes=m):%Y-%m-%dT%H:%M:%S}{tail},{price}"
        for m, price in [(0, "100.50"), (1, "0.1"), (3, "61234.567891"), (1442, "7"), (2883, "1e3")]
    ]
    path = tmp_path / "history.csv"
    path.write_text("Time, Price\n" + "\n".join(rows) + "\n")
    assert _fast(path) is not None
    fast, slow = read_prices(path), _read_rows(path)
    assert fast[0].tolist() == slow[0].tolist()
    assert fast[1] == slow[1] == start
    assert fast[2].tolist() == slow[2].tolist()


@pytest.mark.parametrize(
    "row",
    [
        "2026-02-30T00:00:00Z,1",  # no such day: the row reader says so
        "2026-01-01T00:00:00+01:00,1",  # another offset: the row reader converts it
        "2026-01-01 00:00:00Z,1",
        "2026-01-01T00:00:00.5Z,1",
        " 2026-01-01T00:00:00Z,1",
        "2026-01-01T00:00:00Z,nan",
        "2026-01-01T00:00:00Z,1,2",
        "# a comment,1",
    ],
)
def test_rows_out_of_the_usual_shape_go_to_the_row_reader(tmp_path: Path, row: str) -> None:
    from kripto.backtest.csvfile import _fast

    path = tmp_path / "odd.csv"
    path.write_text(f"time,price\n{row}\n")
    assert _fast(path) is None


def test_no_trade_on_a_window_with_a_long_gap_as_live() -> None:
    """Prices that trade with every minute observed do not trade when most minutes of each
    window were filled in: the backtest refuses what the live decider refuses."""
    prices = synthetic_prices(3, seed=2, regime="volatile")
    strategy = Rsi(30, 35, 65)
    every = run_backtest(prices, strategy, RISK, fee_rate=FEE, gbp=Decimal("1000"))
    assert every.trades
    sparse = np.zeros(prices.size, dtype=np.bool_)
    sparse[::90] = True  # a rate every hour and a half: 89-minute gaps
    gappy = run_backtest(prices, strategy, RISK, fee_rate=FEE, gbp=Decimal("1000"), observed=sparse)
    assert gappy.trades == []
    all_seen = np.ones(prices.size, dtype=np.bool_)
    same = run_backtest(
        prices, strategy, RISK, fee_rate=FEE, gbp=Decimal("1000"), observed=all_seen
    )
    assert [t.index for t in same.trades] == [t.index for t in every.trades]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,price\n", "line 1 must be the header `time,price`"),
        ("time,price\nyesterday,1\n", "line 2: time 'yesterday' is not ISO-8601"),
        ("time,price\n2026-01-01T00:00:00Z,abc\n", "line 2: price 'abc' is not a number"),
        ("time,price\n2026-01-01T00:00:00Z,-1\n", "line 2: price '-1' must be positive"),
        (
            "time,price\n2026-01-01T00:01:00Z,1\n2026-01-01T00:00:00Z,2\n",
            "line 3 is not later than the line before it",
        ),
        ("time,price\n", "no prices after the header"),
    ],
)
def test_bad_csv_names_the_line_and_the_rule(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(CsvError, match=message.replace("(", r"\(").replace("`", "`")):
        read_prices(path)


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    prices = synthetic_prices(3, seed=2, regime="volatile")
    result = run_backtest(prices, Rsi(30, 35, 65), RISK, fee_rate=FEE, gbp=Decimal("1000"))
    target = tmp_path / "chart.png"
    plot_backtest(result, prices, target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_size > 20_000


def cli() -> typer.Typer:
    app = typer.Typer()
    backtest_cli.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `backtest` a named subcommand
    return app


def test_the_command_prints_json_and_rejects_bad_options() -> None:
    runner = CliRunner()
    ok = runner.invoke(cli(), ["backtest", "--synthetic", "3", "--seed", "4", "--json"])
    assert ok.exit_code == 0, ok.output
    figures = json.loads(ok.stdout)
    assert figures["points"] == 3 * 1440
    assert figures["strategy"] == "dca"  # the default
    bad = runner.invoke(cli(), ["backtest", "--synthetic", "3", "--strategy", "magic"])
    assert bad.exit_code == 2
    assert "--strategy must be one of dca, ema_cross, rsi, zscore" in bad.output
    bad = runner.invoke(cli(), ["backtest", "--synthetic", "3", "--param", "speed=9"])
    assert bad.exit_code == 2
    assert "dca takes every, amount, dip" in bad.output
    bad = runner.invoke(
        cli(),
        [
            "backtest",
            "--synthetic",
            "3",
            "--strategy",
            "ema_cross",
            "--param",
            "short=900",
            "--param",
            "long=100",
        ],
    )
    assert bad.exit_code == 2
    assert "must be at least 2 and less than the long span" in bad.output
    assert runner.invoke(cli(), ["backtest"]).exit_code == 2


def test_the_backtest_keeps_the_daily_spend_limit_and_the_cooldown() -> None:
    prices = synthetic_prices(6, seed=5, regime="volatile")
    risk = RiskSettings(daily_spend_limit_gbp=Decimal("200"), cooldown=timedelta(minutes=45))
    result = run_backtest(prices, Rsi(30, 35, 65), risk, fee_rate=FEE, gbp=Decimal("1000"))
    buys = [t for t in result.trades if t.fill.side is Side.BUY]
    assert len(buys) > 3
    for trade in buys:
        window = [b for b in buys if trade.time - timedelta(days=1) < b.time <= trade.time]
        spent = sum((b.fill.executed_value + b.fill.fill_fees for b in window), Decimal(0))
        assert spent <= Decimal("200")
    gaps = [b.time - a.time for a, b in zip(result.trades, result.trades[1:], strict=False)]
    assert min(gaps) >= timedelta(minutes=45)
    unlimited = run_backtest(prices, Rsi(30, 35, 65), RISK, fee_rate=FEE, gbp=Decimal("1000"))
    assert len(unlimited.trades) > len(result.trades)


def test_the_command_backtests_a_csv_file(tmp_path: Path) -> None:
    rows = ["time,price"] + [
        f"2026-01-01T{m // 60:02d}:{m % 60:02d}:00Z,{p:.2f}" for m, p in enumerate(UP_THEN_DOWN)
    ]
    path = tmp_path / "history.csv"
    path.write_text("\n".join(rows) + "\n")
    args = ["backtest", "--csv", str(path), "--strategy", "ema_cross", "--json"]
    args += ["--param", "short=2", "--param", "long=5", "--fee", "0.005", "--gbp", "1000"]
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert (figures["strategy"], figures["params"]) == ("ema_cross", {"short": "2", "long": "5"})
    assert (figures["trades"], figures["buys"], figures["sells"]) == (2, 1, 1)
    expected = run_backtest(UP_THEN_DOWN, EmaCross(2, 5), RISK, fee_rate=FEE, gbp=Decimal(1000))
    assert figures["feesPaid"] == str(expected.fees_paid.quantize(Decimal("0.01")))
    assert figures["start"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--csv", "/nonexistent/history.csv"], "error: --csv: /nonexistent/history.csv: cannot"),
        (
            ["--synthetic", "2", "--fee", "lots"],
            "error: --fee must be maker, taker or a fraction such as 0.006",
        ),
        (["--synthetic", "2", "--fee", "2"], "error: --fee (KRIPTO_FEE_RATE): must be a fraction"),
        (["--synthetic", "2", "--gbp", "-5"], "error: --gbp must be a positive amount of GBP"),
        (["--synthetic", "2", "--regime", "boom"], "error: --regime must be one of up, down"),
        (
            ["--synthetic", "2", "--strategy", "zscore", "--param", "window=ten"],
            "error: --param window: window must be a duration from 10m to 84h (such as 4h;"
            " a bare number is minutes),"
            " not 'ten'",
        ),
        (["--synthetic", "2", "--csv", "x.csv"], "error: choose exactly one of --from-db"),
    ],
)
def test_bad_options_give_one_line_and_exit_code_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli(), ["backtest", *args])
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_a_bad_csv_row_stops_the_command_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,price\n2026-01-01T00:00:00Z,100\n2026-01-01T00:01:00Z,ten\n")
    result = CliRunner().invoke(cli(), ["backtest", "--csv", str(path)])
    assert result.exit_code == 2
    assert result.output == f"error: --csv: {path}: line 3: price 'ten' is not a number\n"


def test_the_terminal_table_shows_the_same_figures_as_the_json() -> None:
    runner = CliRunner()
    args = ["backtest", "--synthetic", "3", "--seed", "4", "--regime", "volatile"]
    figures = json.loads(runner.invoke(cli(), [*args, "--json"]).stdout)
    shown = runner.invoke(cli(), args)
    assert shown.exit_code == 0, shown.output
    for label in ("total return", "buy and hold", "daily DCA", "max drawdown"):
        assert label in shown.output
    for key in ("totalReturn", "buyAndHoldReturn", "dailyDcaReturn", "maxDrawdown"):
        assert figures[key] in shown.output
    assert f"£{figures['feesPaid']}" in shown.output


def test_the_command_backtests_stored_rates(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--from-db reads the rates through RateRepository.since, as `kripto rates` does."""
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    start = end - timedelta(minutes=UP_THEN_DOWN.size - 1)

    async def store() -> None:
        db = await connect(database_url)  # migrates the fresh database
        try:
            repo = RateRepository(db)
            for i, price in enumerate(UP_THEN_DOWN):
                if i == 20:
                    continue  # a missing minute is forward-filled, not skipped
                at = start + timedelta(minutes=i)
                await repo.insert(
                    Rate(rate=Decimal(f"{price:.2f}"), date_time=at, source="simulated")
                )
        finally:
            await db.close()

    asyncio.run(store())
    monkeypatch.setenv("KRIPTO_DATABASE_URL", database_url)
    monkeypatch.setenv("KRIPTO_FEE_RATE", str(FEE))
    args = ["backtest", "--from-db", "--days", "1", "--strategy", "ema_cross", "--json"]
    result = CliRunner().invoke(cli(), [*args, "--param", "short=2", "--param", "long=5"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["points"] == UP_THEN_DOWN.size
    assert figures["start"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = run_backtest(UP_THEN_DOWN, EmaCross(2, 5), RISK, fee_rate=FEE, gbp=Decimal(1000))
    assert (figures["trades"], figures["finalEquity"]) == (
        2,
        str(expected.final_equity.quantize(Decimal("0.01"))),
    )
