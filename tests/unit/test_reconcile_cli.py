"""`kripto reconcile`'s output and its --since, without a stack (the e2e test runs it whole)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import typer
from rich.console import Console

from kripto.cli import reconcile as cli
from kripto.flows.reconcile import ReconcileBalance, ReconcileDifference, ReconcileReport

SINCE = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
UNTIL = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


def shown(report: ReconcileReport, monkeypatch: pytest.MonkeyPatch) -> str:
    console = Console(width=200, record=True, color_system=None)
    monkeypatch.setattr(cli, "console", console)
    cli.show_report(report)
    return console.export_text()


def test_a_clean_run_says_books_match(monkeypatch: pytest.MonkeyPatch) -> None:
    report = ReconcileReport(
        since=SINCE,
        until=UNTIL,
        exchange="paper",
        orders_on_exchange=3,
        trades_on_books=3,
        balances=[
            ReconcileBalance(currency="GBP", books=Decimal("970.5"), exchange=Decimal("970.5")),
            ReconcileBalance(
                currency="BTC", books=Decimal("0.00125952"), exchange=Decimal("0.001259520")
            ),
        ],
    )
    text = shown(report, monkeypatch)
    assert text.splitlines()[:2] == [
        "Reconciled paper from 2026-12-05 09:30:00 to 2026-12-06 09:30:00 UTC: 3 order(s) on the"
        " exchange, 3 trade(s) on the books",
        "books match",
    ]
    # Coins to their 8 places, with their code.
    assert "BTC       0.00125952 BTC  0.00125952 BTC" in text
    # Money as every other command shows it: GBP to the penny.
    assert "GBP              £970.50         £970.50" in text


def test_each_difference_is_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    report = ReconcileReport(
        since=SINCE,
        until=UNTIL,
        exchange="coinbase",
        differences=[
            ReconcileDifference(
                kind="balance",
                subject="GBP",
                detail="the books expect 10 GBP, the exchange has 15 (+5 GBP)",
                books=Decimal("10"),
                exchange=Decimal("15"),
            ),
            ReconcileDifference(kind="unknown_to_exchange", subject="k1", detail="lost"),
        ],
    )
    text = shown(report, monkeypatch)
    assert "books match" not in text
    assert "2 differences" in text
    assert "balance              GBP              £10.00    £15.00  the books expect" in text
    assert "unknown to exchange  k1                                 lost" in text


def test_since_takes_a_date_or_a_time_in_utc() -> None:
    assert cli.parse_since("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    assert cli.parse_since("2026-12-01T09:30") == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert cli.parse_since("2026-12-01T10:30+01:00") == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("yesterday", "must be a date or time such as 2026-12-01 or 2026-12-01T09:30"),
        ("2999-01-01", "must not be in the future"),
    ],
)
def test_a_bad_since_is_one_line_naming_the_option(
    text: str, rule: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as caught:
        cli.parse_since(text)
    assert caught.value.exit_code == 2
    assert capsys.readouterr().err == f"error: --since {text!r} {rule}\n"
