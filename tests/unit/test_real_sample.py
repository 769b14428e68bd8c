"""The real sample at its own resolution: hourly stays hourly, gaps are reported, and the live
decider on minutes gives the signals an hourly backtest gives on the same hourly closes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from kripto.backtest.csvfile import read_series
from kripto.decisions import decide
from kripto.models import Balance, Wallet
from kripto.risk import RiskSettings
from kripto.sample import ROWS, SampleError, convert
from kripto.strategies import build
from kripto.strategies.base import BUY, SELL, evaluate_at
from kripto.strategies.series import PriceHistory, Spaced


def test_the_sample_is_coinbase_hourly_at_its_own_spacing(
    sample_path: Path, sample_series: Spaced
) -> None:
    lines = sample_path.read_text().splitlines()
    assert len(lines) == ROWS + 1
    assert lines[:3] == [
        "time,price",
        "2017-07-01T12:00:00Z,2509.17",
        "2017-07-01T13:00:00Z,2488.43",
    ]
    assert lines[-1] == "2019-10-17T10:00:00Z,8035.88"
    assert sample_series.step == 3600
    assert sample_series.prices.size == ROWS  # hourly, not 1,206,601 forward-filled minutes
    assert sample_series.describe() == "20,111 points, 1h apart; no gaps"


def test_the_conversion_wants_cryptodatadownloads_file() -> None:
    with pytest.raises(SampleError, match="lacks CryptoDataDownload's notice line"):
        convert(b"date,close\n")


def test_gaps_and_uneven_rows_are_reported_not_hidden(tmp_path: Path) -> None:
    path = tmp_path / "gappy.csv"
    rows = ["time,price"] + [f"2026-01-01T{h:02d}:00:00Z,{100 + h}" for h in (0, 1, 2, 5, 6)]
    rows.insert(4, "2026-01-01T02:30:00Z,99")  # between two hours
    path.write_text("\n".join(rows) + "\n")
    series = read_series(path)
    assert series.step == 3600
    assert series.prices.tolist() == [100, 101, 99, 99, 99, 105, 106]
    assert series.observed.tolist() == [True, True, True, False, False, True, True]
    assert series.describe() == (
        "7 points, 1h apart; 2 missing slots carry the price before them (longest gap 2h);"
        " 1 row off the 1h grid"
    )


@pytest.mark.parametrize(
    ("spec", "late"),
    [({"period": "14h", "low": "35", "high": "65"}, 0), ({"short": "6h", "long": "1d"}, 13)],
)
def test_live_minutes_and_an_hourly_backtest_give_the_same_signals(
    sample_series: Spaced, spec: dict[str, str], late: int
) -> None:
    """Minutes built from 10 days of the sample's hourly closes (each hour's close at its
    minute, a straight line between): the live decider on a 1h bar, ticking at each hour's
    close, sees the same RSI (or EMAs) and the same signals as the hourly backtest."""
    name = "rsi" if "period" in spec else "ema_cross"
    strategy = build(name, spec)
    hours = sample_series.prices[:240]
    start = sample_series.start
    hourly = evaluate_at(strategy, hours, 60)
    minutes = np.interp(np.arange(239 * 60 + 1), np.arange(240) * 60, hours)
    # Live rates are read some seconds into their minute (`late`): 10:00:13 stands for 10:00.
    seconds = start.timestamp() + late + np.arange(minutes.size, dtype=np.float64) * 60.0
    risk = RiskSettings(
        cooldown=timedelta(0),
        daily_spend_limit_gbp=Decimal(10**9),
        stale_after=timedelta(days=1),
        bar_minutes=60,
    )
    rich = Wallet(
        gbp=Balance(id="g", balance=Decimal(10**6), hold=Decimal(0), available=Decimal(10**6)),
        btc=Balance(id="b", balance=Decimal(100), hold=Decimal(0), available=Decimal(100)),
    )
    seen = {BUY: 0, SELL: 0}
    checked = 0
    for hour in range(100, 240):
        end = hour * 60 + 1
        at = datetime.fromtimestamp(seconds[end - 1], tz=UTC)
        history = PriceHistory(
            seconds[:end], minutes[:end], at, Decimal(repr(round(float(minutes[end - 1]), 2)))
        )
        decision = decide(
            decision_id=f"d-{hour}",
            product_id="BTC-GBP",
            tick_time=at,
            rates=history,
            wallet=rich,
            recent_trades=[],
            strategy=strategy,
            risk=risk,
            fee_rate=Decimal(0),
        )
        said = (
            BUY
            if decision.action == "buy" or " says buy" in decision.reason
            else SELL
            if decision.action == "sell" or " says sell" in decision.reason
            else 0
        )
        assert said == int(hourly.signals[hour]), (hour, decision.reason)
        for key, line in hourly.indicators.items():
            assert float(decision.indicators[key]) == pytest.approx(float(line[hour]), rel=1e-5)
        seen[said] = seen.get(said, 0) + 1
        checked += 1
    assert checked == 140
    assert seen[BUY] > 0 and seen[SELL] > 0  # the span has signals both ways


def test_history_sample_writes_the_csv_and_backtest_and_optimize_take_sample(
    sample_path: Path, tmp_path: Path
) -> None:
    """`kripto history sample --csv` writes the converted file (from the cache under the data
    folder, `.kripto/samples`); `backtest --sample` and `optimize --sample` read it hourly."""
    from typer.testing import CliRunner

    from kripto.cli.main import _register_commands, app, with_optional_values

    data = sample_path.parent.parent  # the data folder holding samples/
    target = tmp_path / "sample.csv"
    _register_commands(["history"])
    done = CliRunner().invoke(
        app, ["history", "sample", "--csv", str(target), "--data-dir", str(data)]
    )
    assert done.exit_code == 0, done.output
    assert "CryptoDataDownload (https://www.CryptoDataDownload.com)" in done.output.replace(
        "\n", " "
    )
    assert target.read_text() == sample_path.read_text()
    for command in (
        ["backtest", "--sample", "--json"],
        ["optimize", "--sample", "--strategy", "zscore", "--grid", "window=1d:2d:1d", "--json"],
    ):
        _register_commands([command[0]])
        run = CliRunner().invoke(app, with_optional_values([*command, "--data-dir", str(data)]))
        assert run.exit_code == 0, run.output
        json.loads(run.stdout)  # only JSON on stdout; the attribution is on stderr
        assert "CryptoDataDownload" in run.stderr
        assert '"minutesPerPoint": 60' in run.output or '"points": 20111' in run.output


def test_every_real_series_is_listed_pinned_and_taken_by_name(
    sample_path: Path, tmp_path: Path
) -> None:
    """`kripto history sample --list` names the five series (no Bitfinex file: held back);
    each converts from its pinned file; `backtest --sample NAME` takes any, with the
    attribution on stderr; an unknown name is one line naming the ones there are."""
    from typer.testing import CliRunner

    from kripto.cli.main import _register_commands, app, with_optional_values
    from kripto.sample import SERIES, series_csv

    assert list(SERIES) == [
        "coinbase-btcusd-1h",
        "coinbase-btcusd-1d",
        "bitstamp-btcusd-1d",
        "bitstamp-ethusd-1d",
        "bitstamp-ltcusd-1d",
    ]
    assert not any("bitfinex" in s.member.lower() for s in SERIES.values())
    for name, series in SERIES.items():
        lines = series_csv(name, sample_path.parent).read_text().splitlines()
        assert lines[0] == "time,price" and len(lines) == series.rows + 1, name
    data = sample_path.parent.parent
    _register_commands(["history"])
    listed = CliRunner().invoke(app, ["history", "sample", "--list"])
    assert listed.exit_code == 0, listed.output
    assert [line.split(":")[0] for line in listed.stdout.splitlines()] == [
        "coinbase-btcusd-1h (--sample alone)",
        *list(SERIES)[1:],
    ]
    _register_commands(["backtest"])
    daily = CliRunner().invoke(
        app,
        with_optional_values(
            ["backtest", "--sample", "bitstamp-ethusd-1d", "--json", "--data-dir", str(data)]
        ),
    )
    assert daily.exit_code == 0, daily.output
    assert json.loads(daily.stdout)["minutesPerPoint"] == 1440
    assert "Bitstamp ETH-USD daily closes" in daily.stderr
    bad = CliRunner().invoke(app, ["backtest", "--sample", "bitfinex", "--data-dir", str(data)])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --sample: no series 'bitfinex'; there are coinbase-")
