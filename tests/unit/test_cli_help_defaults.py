"""Every `--help` default is the one the command uses: each `[default: KRIPTO_…, value]` in an
option's help is the setting's own default, and a run without the option uses that value."""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kripto.cli.main import COMMANDS, OPTIONAL_VALUES, _register_commands, app
from kripto.settings import SECTION_OF, Settings

NAMED = re.compile(
    r"\[default: (KRIPTO_[A-Z_]+)(?:'s (maker and taker rates|maker|taker))?, ([^\],]+)[\],]"
)


def every_option() -> list[tuple[str, Any]]:
    """Each command's options that have help, as (command path, option)."""
    for name in COMMANDS:
        _register_commands([name])
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: str) -> None:
        found.extend((path, p) for p in command.params if getattr(p, "help", None))
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {sub_name}")

    walk(root, "kripto")
    return found


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("KRIPTO_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_every_named_default_in_help_is_the_settings_own(clean: None) -> None:
    settings = Settings(_env_file=None)
    checked = []
    for path, option in every_option():
        match = NAMED.search(option.help or "")
        if match is None:
            continue
        setting, side, shown = match.groups()
        field = setting.removeprefix("KRIPTO_").lower()
        if side == "maker and taker rates":
            fees = settings.exchange.fees
            assert shown == f"{fees.maker}/{fees.taker}", (path, option.name)
        elif side is not None:
            assert settings.exchange.fees.rate(side) == Decimal(shown), (path, option.name)
        elif field == "data_dir":
            assert settings.general.data_dir == Path(shown), (path, option.name)
        else:
            value = getattr(getattr(settings, SECTION_OF[field]), field)
            assert str(value) == shown or shown.endswith(" ago"), (path, option.name, value)
        checked.append(f"{path} {option.opts[0]}")
    assert "kripto backtest --fee" in checked and "kripto optimize --fee" in checked


def test_the_fee_in_help_is_the_fee_the_runs_use(clean: None) -> None:
    """`backtest --help` names the tier's 0.006/0.012 and a run without --fee uses them;
    `optimize --help` names 0.012 and a run without --fee uses 0.012."""
    runner = CliRunner()
    for command, fields in (
        (["backtest", "--synthetic", "2", "--json"], ("makerFeeRate", "takerFeeRate")),
        (
            ["optimize", "--synthetic", "2", "--strategy", "rsi", "--grid", "period=1h", "--json"],
            ("feeRate",),
        ),
    ):
        _register_commands(command)
        shown = runner.invoke(app, [command[0], "--help"], env={"COLUMNS": "200"}).stdout
        match = NAMED.search(" ".join(shown.split()))
        assert match is not None, shown
        done = runner.invoke(app, command)
        assert done.exit_code == 0, done.output
        figures = json.loads(done.stdout)
        assert "/".join(figures[f] for f in fields) == match.group(3), command


def test_sample_alone_is_the_series_its_help_names(clean: None) -> None:
    for path, option in every_option():
        if option.opts[0] == "--sample":
            assert f"alone, {OPTIONAL_VALUES['--sample']}" in (option.help or ""), path
