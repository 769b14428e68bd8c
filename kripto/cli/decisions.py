from __future__ import annotations

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
from kripto.cli.tables import decisions_table
from kripto.db.decisions import DecisionRepository
from kripto.models import Decision
from kripto.settings import Settings


def register(app: typer.Typer) -> None:
    app.command("decisions")(decisions)


def decisions(
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1, max=10000)] = 20,
    product: Annotated[str | None, typer.Option(help="Only this product.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """What each tick decided, and why (newest first)."""
    product = product_option(product) if product is not None else None
    settings = settings_for(data_dir)
    rows = run(recent(settings, limit, product))
    why = unconfigured(product, settings) if product is not None and not rows else None
    if why:
        raise fail(f"--product: no decisions: {why}", code=1)
    if as_json:
        print_json([d.to_json_dict() for d in rows])
        return
    console.print(decisions_table(rows))


async def recent(settings: Settings, limit: int, product: str | None) -> list[Decision]:
    async with open_database(settings) as db:
        return await DecisionRepository(db).recent(limit, product)
