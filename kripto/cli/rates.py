from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from kripto.cli.common import (
    DataDir,
    console,
    fail,
    open_database,
    print_json,
    product_option,
    run,
    settings_for,
    unconfigured,
)
from kripto.cli.tables import rates_summary, rates_table
from kripto.db.rates import RateRepository
from kripto.models import Rate
from kripto.settings import Settings


def register(app: typer.Typer) -> None:
    app.command("rates")(rates)


def rates(
    days: Annotated[int, typer.Option(help="How many days back.", min=1, max=366)] = 7,
    product: Annotated[str, typer.Option(help="Product, e.g. BTC-GBP.")] = "BTC-GBP",
    limit: Annotated[
        int, typer.Option(help="Show the newest N rates, after a summary of them all.", min=1)
    ] = 20,
    show_all: Annotated[bool, typer.Option("--all", help="Show every rate.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Show the stored rates, oldest first (the data-reader).

    A week is 10,080 minutes: by default a summary of them all and the newest 20; --all shows
    every one, and --json gives them all as the data-reader's JSON."""
    product = product_option(product)
    settings = settings_for(data_dir)
    rows = run(read_rates(settings, product, days))
    why = unconfigured(product, settings) if not rows else None
    if why:
        raise fail(f"--product: no rates: {why}", code=1)
    if as_json:
        print_json([r.seed_shape() for r in rows])
        return
    shown = rows if show_all else rows[-limit:]
    console.print(rates_table(shown, f"{product}, {last_days(days)}"))
    if len(shown) < len(rows):
        console.print(rates_summary(rows, len(shown)), highlight=False)


async def read_rates(settings: Settings, product: str, days: int) -> list[Rate]:
    async with open_database(settings) as db:
        return await RateRepository(db).since(product, datetime.now(UTC) - timedelta(days=days))


def last_days(days: int) -> str:
    """`last day`, `last 7 days`."""
    return "last day" if days == 1 else f"last {days} days"
