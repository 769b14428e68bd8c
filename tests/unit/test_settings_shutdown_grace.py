"""KRIPTO_SHUTDOWN_GRACE: how long a stopping worker lets its running activities finish."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from kripto.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def no_env_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings from this test's environment only: no `.env` or `dev.env` around."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KRIPTO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KRIPTO_SHUTDOWN_GRACE", raising=False)


def test_the_grace_defaults_to_30_seconds() -> None:
    assert load_settings().temporal.shutdown_grace == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("value", "grace"),
    [("5s", timedelta(seconds=5)), ("2m", timedelta(minutes=2)), ("45", timedelta(seconds=45))],
)
def test_the_grace_is_a_duration(
    monkeypatch: pytest.MonkeyPatch, value: str, grace: timedelta
) -> None:
    monkeypatch.setenv("KRIPTO_SHUTDOWN_GRACE", value)
    assert load_settings().temporal.shutdown_grace == grace


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0s", "KRIPTO_SHUTDOWN_GRACE: must be a positive duration"),
        ("soon", "KRIPTO_SHUTDOWN_GRACE: 'soon' is not a duration such as 5s, 1m or 2h"),
    ],
)
def test_a_bad_grace_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("KRIPTO_SHUTDOWN_GRACE", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == message
