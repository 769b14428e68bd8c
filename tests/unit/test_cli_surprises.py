"""Small surprises of a new user's first hour, each pinned: durations in `kripto config` as they
are written, `--product` upper-cased, and a one-day window called the last day."""

from __future__ import annotations

from datetime import timedelta

import pytest
import typer

from kripto.cli.common import product_option
from kripto.cli.config import config_rows, format_duration
from kripto.cli.rates import last_days
from kripto.settings import Settings


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (timedelta(seconds=30), "30s"),
        (timedelta(days=1), "1d"),
        (timedelta(minutes=10), "10m"),
        (timedelta(hours=1), "1h"),
        (timedelta(seconds=90), "90s"),
        (timedelta(milliseconds=1500), "1500ms"),
    ],
)
def test_a_duration_is_shown_as_it_is_written(value: timedelta, shown: str) -> None:
    assert format_duration(value) == shown


def test_kripto_config_shows_durations_as_written(tmp_path: object) -> None:
    rows = {name: value for name, value, _ in config_rows(Settings(_env_file=None))}
    assert (rows["KRIPTO_SHUTDOWN_GRACE"], rows["KRIPTO_COOLDOWN"], rows["KRIPTO_BAR"]) == (
        "30s",
        "30m",
        "1h",
    )
    assert not any(value.startswith("0:") for value in rows.values())


def test_product_is_upper_cased_and_a_bad_one_is_refused() -> None:
    assert product_option(" btc-gbp ") == "BTC-GBP"
    with pytest.raises(typer.Exit):
        product_option("bitcoin")


def test_one_day_is_the_last_day() -> None:
    assert (last_days(1), last_days(7)) == ("last day", "last 7 days")
