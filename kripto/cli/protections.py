"""`kripto protections`: someone resumes buying after the drawdown guard stopped it."""

from __future__ import annotations

from typing import Annotated

import typer

from kripto.cli.common import DataDir, console, open_database, run, settings_for
from kripto.settings import Settings

protections_app = typer.Typer(help="The protections (stop-loss, trailing stop, drawdown guard).")


def register(app: typer.Typer) -> None:
    app.add_typer(protections_app, name="protections")


@protections_app.command("resume")
def resume(
    quote: Annotated[str, typer.Option("--quote", help="The quote currency's account.")] = "GBP",
    data_dir: DataDir = None,
) -> None:
    """Let the drawdown guard go: buying resumes, and the peak is measured from now on."""
    was = run(_resume(settings_for(data_dir), quote.upper()))
    if was:
        console.print(f"resumed: the drawdown guard no longer holds {quote.upper()} buys")
    else:
        console.print(f"the drawdown guard was not holding {quote.upper()} buys; its peak is reset")


async def _resume(settings: Settings, quote: str) -> bool:
    from kripto.db.protections import ProtectionRepository

    async with open_database(settings) as db:
        return await ProtectionRepository(db).resume(quote)
