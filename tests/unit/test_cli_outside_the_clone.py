"""The CLI run where there is no dev.env: it says so, rather than silently trying
localhost:7233; `--data-dir` picks the dev.env; a negative amount gets the amount's rule; and
`kripto config` shows which schedule setting applies, lists as text, long values whole."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from kripto.cli.config import config_rows, config_table
from kripto.settings import Settings, load_settings
from kripto.temporal.client import _default_address_hint

ROOT = Path(__file__).resolve().parents[2]


def kripto(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "kripto", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_dev_env_and_no_address_is_said_in_the_connection_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever listens on localhost:7233 on this machine (someone's `kripto dev`) is not
    # dialled: the hint is checked on the settings such a run reads.
    monkeypatch.chdir(tmp_path)
    for name in ("TEMPORAL_ADDRESS", "KRIPTO_TEMPORAL_ADDRESS", "KRIPTO_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.temporal.temporal_address == "localhost:7233"
    assert _default_address_hint(settings) == (
        ". No .kripto/dev.env was found and TEMPORAL_ADDRESS is not set, so this is the default"
        " address: run the command where `kripto dev` runs, pass --data-dir (or set"
        " KRIPTO_DATA_DIR) to its data folder, or set TEMPORAL_ADDRESS"
    )
    monkeypatch.setenv("TEMPORAL_ADDRESS", "localhost:7233")
    assert _default_address_hint(load_settings()) == ""
    # The database commands say the same about KRIPTO_DATABASE_URL.
    result = kripto("trades", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: KRIPTO_DATABASE_URL is not set (no .kripto/dev.env here): start `kripto dev`"
        " first, pass --data-dir (or set KRIPTO_DATA_DIR) to the folder `kripto dev` uses, or"
        " point KRIPTO_DATABASE_URL at Postgres"
    )


def test_data_dir_chooses_the_dev_env(tmp_path: Path) -> None:
    port = closed_port()
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "dev.env").write_text(f"TEMPORAL_ADDRESS=127.0.0.1:{port}\n")
    result = kripto("schedule", "status", "--data-dir", str(stack), cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot reach Temporal at 127.0.0.1:{port}" in result.stderr
    assert "default address" not in result.stderr
    result = kripto("config", "--json", "--data-dir", str(stack), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f'"KRIPTO_TEMPORAL_ADDRESS": "127.0.0.1:{port}"' in result.stdout
    assert str(stack / "dev.env") in result.stdout


def test_a_negative_amount_gets_the_amount_rule_not_an_option_error(tmp_path: Path) -> None:
    result = kripto("trade", "buy", "-10.00", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: amount: must be greater than 0; got '-10.00'"


def test_config_marks_the_unused_schedule_setting_and_joins_lists() -> None:
    url = "postgresql://kripto:secret@db.internal.example.com:5432/kripto_production_database"
    settings = Settings(products=["BTC-GBP", "ETH-GBP"], database_url=url, _env_file=None)
    rows = {name: (value, note) for name, value, note in config_rows(settings)}
    assert rows["KRIPTO_PRODUCTS"] == ("BTC-GBP, ETH-GBP", "")
    assert rows["KRIPTO_SCHEDULE_CRON"] == ("* * * * *", "applies")
    assert rows["KRIPTO_SCHEDULE_EVERY"] == ("", "unused: the cron applies")
    every = Settings(schedule_every="5s", _env_file=None)
    rows = {name: (value, note) for name, value, note in config_rows(every)}
    assert rows["KRIPTO_SCHEDULE_CRON"][1] == "unused: KRIPTO_SCHEDULE_EVERY is set"
    assert rows["KRIPTO_SCHEDULE_EVERY"][1] == "applies"

    console = Console(width=80, record=True, color_system=None)
    console.print(config_table(config_rows(settings)))
    text = console.export_text()
    assert "…" not in text
    # The URL (password masked) is whole once the folded lines are joined.
    joined = "".join(line.split("│")[2].strip() for line in text.splitlines() if "│" in line)
    assert (
        "postgresql://kripto:********@db.internal.example.com:5432/kripto_production_database"
        in (joined)
    )


def test_a_command_that_falls_back_to_the_default_address_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a `kripto dev` folder, `wallet` and `trade` reach localhost:7233 if something
    answers there: the note names the address, the missing dev.env and how to name a stack."""
    from kripto.cli.common import default_address_note

    for name in ("TEMPORAL_ADDRESS", "KRIPTO_TEMPORAL_ADDRESS", "KRIPTO_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert default_address_note(settings) == (
        "reached the Temporal at the default address localhost:7233: no .kripto/dev.env was"
        " found and TEMPORAL_ADDRESS is not set (--data-dir or KRIPTO_DATA_DIR name the folder"
        " of a `kripto dev` stack)"
    )
    named = Settings(temporal_address="127.0.0.1:7233", _env_file=None)
    assert default_address_note(named) is None
