from __future__ import annotations

from datetime import UTC, datetime

import typer

from kripto.cli.common import console, run
from kripto.settings import Settings, load_settings
from kripto.temporal.client import connect_client
from kripto.temporal.kill_switch import pause_note
from kripto.temporal.schedules import ensure_schedules, set_paused

schedule_app = typer.Typer(help="The per-product rate schedules (and the trading kill switch).")


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")


@schedule_app.command("create")
def create() -> None:
    """Create or update one schedule per product (idempotent)."""
    outcomes = run(create_schedules(load_settings()))
    for product, outcome in outcomes.items():
        console.print(f"kripto-rates-{product}: {outcome}")


async def create_schedules(settings: Settings) -> dict[str, str]:
    client = await connect_client(settings)
    return dict(await ensure_schedules(client, settings))


@schedule_app.command("pause")
def pause() -> None:
    """Kill switch: stop every tick, so no rate is read and no automatic trade is made."""
    changed = run(_set_paused(load_settings(), True))
    console.print(f"paused {', '.join(changed) or 'nothing (no schedules)'}")
    console.print("[bold]automatic trading is OFF[/bold] until `kripto schedule resume`")


@schedule_app.command("resume")
def resume() -> None:
    """Resume the schedules after a pause."""
    changed = run(_set_paused(load_settings(), False))
    console.print(f"resumed {', '.join(changed) or 'nothing (no schedules)'}")


async def _set_paused(settings: Settings, paused: bool) -> list[str]:
    client = await connect_client(settings)
    # The kill switch metric reads when it was engaged from the note.
    return await set_paused(client, settings, paused, pause_note(paused, datetime.now(UTC)))
