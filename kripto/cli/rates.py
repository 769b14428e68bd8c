from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from kripto.cli.common import console, fail, open_database, print_json, run
from kripto.db.rates import RateRepository
from kripto.models import Rate, check_product
from kripto.money import plain
from kripto.settings import Settings, load_settings


def register(app: typer.Typer) -> None:
    app.command("rates")(rates)


def rates(
    days: Annotated[int, typer.Option(help="How many days back.", min=1, max=366)] = 7,
    product: Annotated[str, typer.Option(help="Product, e.g. BTC-GBP.")] = "BTC-GBP",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the stored rates, oldest first (the data-reader)."""
    try:
        check_product(product)
    except ValueError as exc:
        raise fail(f"--product: {exc}") from None
    settings = load_settings()
    rows = run(read_rates(settings, product, days))
    if as_json:
        print_json([r.seed_shape() for r in rows])
        return
    table = Table("dateTime (UTC)", "rate", "source", title=f"{product}, last {days} days")
    for r in rows:
        source = r.source if r.source == "coinbase" else f"[yellow]{r.source}[/yellow]"
        table.add_row(f"{r.date_time:%Y-%m-%d %H:%M:%S}", plain(r.rate), source)
    console.print(table)
    console.print(f"{len(rows)} rates")


async def read_rates(settings: Settings, product: str, days: int) -> list[Rate]:
    async with open_database(settings) as db:
        return await RateRepository(db).since(product, datetime.now(UTC) - timedelta(days=days))
