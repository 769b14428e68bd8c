"""docs/books.md says what the code does: its figures are the code's, its commands exist with
the options it names, and the alert that pages for a stuck trade names the way out."""

from __future__ import annotations

import importlib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from kripto.cli.reconcile import rebase_request
from kripto.db.decisions import RESERVATION_TTL
from kripto.mail.outbox import PARTIAL_STALE_SECONDS
from kripto.reconcile import CURRENCY_INCREMENTS, DEFAULT_INCREMENT
from kripto.runtime.deployments import DRAIN_LEASE, DRAIN_RENEW
from kripto.runtime.worker import ROUTING_CHECK_SECONDS
from kripto.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BOOKS = (ROOT / "docs" / "books.md").read_text()


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_figures_it_gives_are_the_codes() -> None:
    text = flat(BOOKS)
    assert Settings().temporal.upgrade_grace == timedelta(minutes=2)
    assert "**`KRIPTO_UPGRADE_GRACE`** (default `2m`" in text
    assert Settings().exchange.reconcile_grace == timedelta(minutes=10)
    assert "`KRIPTO_RECONCILE_GRACE` (10 minutes;" in text
    assert (timedelta(seconds=3), timedelta(seconds=10)) == (DRAIN_RENEW, DRAIN_LEASE)
    assert "every 3 seconds (`kripto.drainingUntil`, 10 seconds ahead)" in text
    assert ROUTING_CHECK_SECONDS == 5 and "it checks every 5 seconds" in text
    assert timedelta(hours=1) == RESERVATION_TTL and "after an hour" in text
    assert PARTIAL_STALE_SECONDS == 60 and "older than a minute" in text
    assert {c: Decimal("0.01") for c in ("GBP", "EUR", "USD")} == CURRENCY_INCREMENTS
    assert Decimal("1e-8") == DEFAULT_INCREMENT
    assert "a penny for GBP, EUR and USD; a satoshi, 1e-8, for anything else" in text


def test_the_alert_for_a_stuck_trade_names_the_way_out() -> None:
    for name in ("kripto.rules.yml", "kripto.rules.test.yml"):
        text = (ROOT / "deploy" / "prometheus" / name).read_text()
        assert "kripto trade abandon KEY --reason TEXT" in text, name
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "kripto.rules.yml").read_text())
    [alert] = [
        r
        for g in rules["groups"]
        for r in g["rules"]
        if r.get("alert") == "KriptoTradeWaitingOnErrors"
    ]
    assert "kripto trade abandon KEY --reason TEXT" in alert["annotations"]["description"]
    assert "kripto trade abandon KEY --reason TEXT" in BOOKS


@pytest.mark.parametrize(
    ("app", "args", "options"),
    [
        ("kripto.cli.trading", ["abandon", "--help"], ["KEY", "--reason"]),
        ("kripto.cli.reconcile", ["--help"], ["--rebase", "--reason"]),
    ],
)
def test_its_commands_exist_with_their_options(
    app: str, args: list[str], options: list[str]
) -> None:
    module = importlib.import_module(app)
    if hasattr(module, "trade_app"):
        command = module.trade_app
    else:
        command = typer.Typer()
        module.register(command)
    shown = CliRunner().invoke(command, args, terminal_width=120)
    assert shown.exit_code == 0, shown.output
    for option in options:
        assert option in shown.output


def test_a_rebase_needs_a_reason_and_a_reason_needs_a_rebase(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert rebase_request(False, None) is None
    asked = rebase_request(True, "  deposited £500 ")
    assert asked is not None and asked.reason == "deposited £500" and "@" in asked.by
    for rebase, reason, said in [
        (True, None, "--reason: --rebase needs a reason, e.g. --reason 'deposited £500'"),
        (True, "   ", "--reason: --rebase needs a reason, e.g. --reason 'deposited £500'"),
        (False, "why", "--reason: only with --rebase (why the balances are rebased)"),
        (True, "x" * 501, "--reason: must be at most 500 characters, not 501"),
    ]:
        with pytest.raises((typer.Exit, SystemExit)):
            rebase_request(rebase, reason)
        assert said in capsys.readouterr().err
