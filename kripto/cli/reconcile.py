"""`kripto reconcile`: compare the exchange with the books now (ReconcileWorkflow), and print
"books match" or each difference. Exits 1 when there are differences, so a script or a cron
job can tell. `--rebase --reason TEXT` takes new balance baselines (after a deposit or a
withdrawal), noted with who and why (docs/books.md)."""

from __future__ import annotations

import getpass
import socket
from datetime import UTC, date, datetime
from typing import Annotated

import typer

from kripto.cli.common import DataDir, connect, console, fail, print_json, run, settings_for
from kripto.cli.tables import differences_table, reconcile_balances_table
from kripto.flows.reconcile import Rebase, ReconcileReport
from kripto.settings import Settings

#: The exit code when the books and the exchange differ.
DIFFERENCES_EXIT = 1


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)


def reconcile(
    since: Annotated[
        str | None,
        typer.Option(
            help="From this date or time (UTC), e.g. 2026-12-01 or 2026-12-01T09:30"
            " [default: KRIPTO_RECONCILE_LOOKBACK ago].",
            show_default=False,
        ),
    ] = None,
    rebase: Annotated[
        bool,
        typer.Option(
            "--rebase",
            help="Take the wallet as it is now as every currency's new balance baseline (after"
            " a deposit or a withdrawal); needs --reason.",
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option(
            help="Why the balances are rebased (kept with who asked).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Compare the exchange's orders, fills and balances with the books; exit 1 if they differ."""
    start = parse_since(since) if since is not None else None
    asked = rebase_request(rebase, reason)
    report = run(run_reconcile(settings_for(data_dir), start, asked))
    if as_json:
        print_json(report.to_json_dict() | {"booksMatch": report.books_match})
    else:
        show_report(report)
    if not report.books_match:
        raise typer.Exit(DIFFERENCES_EXIT)


def rebase_request(rebase: bool, reason: str | None) -> Rebase | None:
    """`--rebase` needs a reason, and a reason needs `--rebase`."""
    text = (reason or "").strip()
    if not rebase:
        if reason is not None:
            raise fail("--reason: only with --rebase (why the balances are rebased)")
        return None
    if not text:
        raise fail("--reason: --rebase needs a reason, e.g. --reason 'deposited £500'")
    if len(text) > 500:
        raise fail(f"--reason: must be at most 500 characters, not {len(text)}")
    return Rebase(reason=text, by=f"{getpass.getuser()}@{socket.gethostname()}")


def parse_since(text: str) -> datetime:
    """A date (midnight UTC) or an ISO time (UTC unless it names a zone)."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise fail(
            f"--since {text!r} must be a date or time such as 2026-12-01 or 2026-12-01T09:30"
        ) from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if at > datetime.now(UTC):
        raise fail(f"--since {text!r} must not be in the future")
    return at.astimezone(UTC)


async def run_reconcile(
    settings: Settings, since: datetime | None, rebase: Rebase | None = None
) -> ReconcileReport:
    from kripto.services.reconcile import ReconcileFailed, reconcile

    try:
        return await reconcile(await connect(settings), settings, since, rebase=rebase)
    except ReconcileFailed as exc:
        raise fail(f"the reconciliation failed: {exc}") from None


def show_report(report: ReconcileReport) -> None:
    period = f"{report.since:%Y-%m-%d %H:%M:%S} to {report.until:%Y-%m-%d %H:%M:%S} UTC"
    console.print(
        f"Reconciled {report.exchange} from {period}: {report.orders_on_exchange} order(s) on"
        f" the exchange, {report.trades_on_books} trade(s) on the books",
        highlight=False,
    )
    if report.books_match:
        console.print("[bold green]books match[/bold green]")
    else:
        console.print(differences_table(report.differences))
    console.print(reconcile_balances_table(report.balances))
    if report.recorded or report.receipts_sent:
        console.print(
            f"recorded {len(report.recorded)} order(s) found on the exchange; sent"
            f" {report.receipts_sent} receipt(s)",
            highlight=False,
        )
    for note in report.notes:
        console.print(note, highlight=False, soft_wrap=True)
    if report.in_flight:
        console.print(
            f"{len(report.in_flight)} trade(s) still on their way, left to their workflows",
            highlight=False,
        )
