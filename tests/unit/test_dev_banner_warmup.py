"""The `kripto dev` banner's decision line: how much history the strategy needs, how much is
stored, and so when the first automatic decision can come."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kripto.devstack.warmup import first_decision
from kripto.models import Rate
from kripto.settings import Settings

NOW = datetime(2026, 11, 25, 14, 7, tzinfo=UTC)


def minutes(count: int, newest: datetime) -> list[Rate]:
    return [
        Rate(date_time=newest - timedelta(minutes=i), rate=Decimal("70000"), source="simulated")
        for i in reversed(range(count))
    ]


def test_an_empty_data_folder_waits_the_whole_window() -> None:
    settings = Settings(_env_file=None, strategy="zscore")  # a 1d window on 1h bars: 24 h
    assert first_decision(settings, [], NOW) == (
        "zscore needs 1,440 minutes of rates for the rolling window; none usable stored: first"
        " automatic decision about 2026-11-26 14:07 UTC (in 24 h)"
    )


def test_stored_rates_up_to_now_count() -> None:
    settings = Settings(_env_file=None, strategy="rsi", rsi_period=30, bar="1m")  # 120 minutes
    assert first_decision(settings, minutes(45, NOW - timedelta(minutes=1)), NOW) == (
        "rsi needs 120 minutes of rates for the RSI; 45 usable stored: first automatic"
        " decision about 2026-11-25 15:22 UTC (in 1 h 15 min)"
    )
    assert first_decision(settings, minutes(200, NOW), NOW) == (
        "rsi needs 120 minutes of rates for the RSI; 200 stored: it can decide from the first tick"
    )


def test_rates_older_than_the_gap_limit_do_not_count() -> None:
    settings = Settings(
        _env_file=None, strategy="rsi", rsi_period=30, bar="1m"
    )  # KRIPTO_MAX_GAP 60 minutes
    old = minutes(500, NOW - timedelta(hours=3))
    assert first_decision(settings, old, NOW).endswith(
        "none usable stored: first automatic decision about 2026-11-25 16:07 UTC (in 2 h)"
    )


def test_the_banner_keeps_each_url_whole_when_logged_at_80_columns() -> None:
    """Logged output (not a terminal) at 80 columns: the sign-in URL carries a token, and a
    copy of a line split mid-token signs nobody in."""
    import io

    from rich.console import Console

    from kripto.devstack.stack import print_banner

    url = "http://127.0.0.1:8080/login?token=" + "x" * 43
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False)
    print_banner(console, [("Sign in", url), ("Metrics", None)])
    lines = out.getvalue().splitlines()
    assert f"Sign in     {url}" in lines
    assert "Metrics     off" in lines
