"""`kripto tax`: the UK capital gains report for a tax year, by HMRC's matching rules, from the
books (Kripto's own trades) and any trades made elsewhere (`--trades FILE`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from kripto.cli.common import DataDir, errors, fail, open_database, print_json, run, settings_for
from kripto.errors import InvalidInput


def register(app: typer.Typer) -> None:
    app.command("tax")(tax)


def tax(
    year: Annotated[
        str | None,
        typer.Option(
            "--year",
            help="UK tax year, 6 April to 5 April, e.g. 2025-26 [default: the current one].",
            show_default=False,
        ),
    ] = None,
    trades: Annotated[
        list[Path] | None,
        typer.Option(
            "--trades",
            help="A file of BTC trades made elsewhere, added to the pools: a plain CSV"
            " (time,side,size,value,fee) or Coinbase's transaction history export. Repeatable.",
            show_default=False,
        ),
    ] = None,
    no_books: Annotated[
        bool,
        typer.Option("--no-books", help="Use only the --trades files: no stack needs to run."),
    ] = False,
    losses_brought_forward: Annotated[
        str,
        typer.Option(
            "--losses-brought-forward",
            metavar="GBP",
            help="Unused losses of earlier years, used only down to the annual exempt amount.",
        ),
    ] = "0",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Also write the trades the report used to FILE, in the format --trades reads.",
        ),
    ] = None,
    pdf_file: Annotated[
        Path | None, typer.Option("--pdf", help="Also write the report as a PDF to FILE.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """UK capital gains for a tax year by HMRC's rules: each disposal, the totals, the pools."""
    from kripto.tax.files import read_trade_files, write_trades_csv
    from kripto.tax.report import report_text, write_pdf
    from kripto.tax.years import TaxYear, parse_tax_year, uk_day

    try:
        if year is None:
            from datetime import UTC, datetime

            tax_year = TaxYear.containing(uk_day(datetime.now(UTC)))
            parse_tax_year(tax_year.name)  # a year whose exempt amount is known
        else:
            tax_year = parse_tax_year(year)
        brought_forward = _pounds(losses_brought_forward)
        files = read_trade_files(list(trades or []))
    except InvalidInput as exc:
        raise fail(str(exc)) from None
    if no_books and not files:
        raise fail("--no-books: name at least one --trades FILE to compute from")
    if not no_books and any(f.kind.startswith("Coinbase") for f in files):
        errors.print(
            "note: a Coinbase export holds Kripto's own Coinbase trades too, which the books"
            " also hold: use --no-books unless the export has only your other trades",
            highlight=False,
            soft_wrap=True,
        )
    data, used = run(
        tax_report(
            None if no_books else settings_for(data_dir),
            tax_year.name,
            extra=[t for f in files for t in f.trades],
            notes=tuple(f.note for f in files),
            brought_forward=brought_forward,
        )
    )
    if csv_file is not None:
        write_trades_csv(used, csv_file)
    if pdf_file is not None:
        write_pdf(data, pdf_file)
    if as_json:
        print_json(data)
    else:
        typer.echo(report_text(data), nl=False)


def _pounds(text: str) -> Decimal:
    try:
        value = Decimal(text.strip().lstrip("£").replace(",", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise InvalidInput(
            f"--losses-brought-forward: {text!r} must be an amount of pounds of 0 or more,"
            " e.g. 1250.00"
        )
    return value


async def tax_report(
    settings: Any,
    year: str,
    *,
    extra: list[Any] | None = None,
    notes: tuple[str, ...] = (),
    brought_forward: Decimal = Decimal(0),
) -> tuple[dict[str, Any], list[Any]]:
    """The year's report as JSON, and every trade it was computed from up to the year's end.
    `settings` None: from `extra` alone (no database)."""
    from kripto.tax.pipeline import report_with_trades
    from kripto.tax.years import parse_tax_year

    tax_year = parse_tax_year(year)
    try:
        if settings is None:
            return await report_with_trades(
                None, tax_year, extra=extra or [], notes=notes, brought_forward=brought_forward
            )
        async with open_database(settings) as db:
            return await report_with_trades(
                db, tax_year, extra=extra or [], notes=notes, brought_forward=brought_forward
            )
    except InvalidInput as exc:
        raise fail(str(exc)) from None
