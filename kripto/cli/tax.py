"""`kripto tax`: the UK capital gains report for a tax year, by HMRC's matching rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kripto.cli.common import DataDir, fail, open_database, print_json, run, settings_for
from kripto.errors import InvalidInput


def register(app: typer.Typer) -> None:
    app.command("tax")(tax)


def tax(
    year: Annotated[
        str, typer.Option("--year", help="UK tax year, 6 April to 5 April, e.g. 2025-26.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write a line per disposal to FILE.")
    ] = None,
    pdf_file: Annotated[
        Path | None, typer.Option("--pdf", help="Also write a PDF to FILE.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """UK capital gains for a tax year by HMRC's rules: each disposal, the totals, the pools."""
    from kripto.tax.report import report_text, write_csv, write_pdf
    from kripto.tax.years import parse_tax_year

    try:
        tax_year = parse_tax_year(year)
    except InvalidInput as exc:
        raise fail(str(exc)) from None
    data = run(tax_report(settings_for(data_dir), tax_year.name))
    if csv_file is not None:
        write_csv(data, csv_file)
    if pdf_file is not None:
        write_pdf(data, pdf_file)
    if as_json:
        print_json(data)
    else:
        typer.echo(report_text(data), nl=False)


async def tax_report(settings: Any, year: str) -> dict[str, Any]:
    from kripto.services.tax import tax_report as report
    from kripto.tax.years import parse_tax_year

    async with open_database(settings) as db:
        try:
            return await report(db, parse_tax_year(year))
        except InvalidInput as exc:
            raise fail(str(exc)) from None
