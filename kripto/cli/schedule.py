"""`kripto schedule`: the per-product rate schedules, and the trading kill switch.

A pause is the kill switch for *automatic* trading: no tick starts, so no rate is read and no
decision trades, and a decision already running holds. A manual `kripto trade` still goes
through (it is a person's deliberate act); it says so in a yellow line."""

from __future__ import annotations

import getpass
import socket
from typing import Annotated

import typer
from rich.table import Table

from kripto.cli.common import DataDir, connect, console, print_json, run, settings_for
from kripto.runtime.kill_switch import ScheduleStatus, pause_note, schedule_status
from kripto.runtime.schedules import ensure_all_schedules, set_paused
from kripto.settings import Settings

schedule_app = typer.Typer(help="The per-product rate schedules (and the trading kill switch).")
Reason = Annotated[
    str | None, typer.Option("--reason", help="Why, kept on the schedule (shown by status).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")


@schedule_app.command("create")
def create(data_dir: DataDir = None) -> None:
    """Create or update the exchange's schedule, which ticks every product each minute
    (idempotent), and the reconciler's; products' own schedules of earlier builds are retired
    without a gap."""
    outcomes = run(create_schedules(settings_for(data_dir)))
    for sid, outcome in outcomes.items():
        console.print(f"{sid}: {outcome}")


async def create_schedules(settings: Settings) -> dict[str, str]:
    client = await connect(settings)
    return dict(await ensure_all_schedules(client, settings))


@schedule_app.command("pause")
def pause(reason: Reason = None, data_dir: DataDir = None) -> None:
    """Kill switch: stop every tick, so no rate is read and no automatic trade is made.
    A manual `kripto trade` still goes through."""
    changed = run(_set_paused(settings_for(data_dir), True, reason))
    console.print(f"paused {', '.join(changed) or 'nothing (no schedules)'}")
    console.print("[bold]automatic trading is OFF[/bold] until `kripto schedule resume`")
    console.print("manual trades (`kripto trade`) still go through")


@schedule_app.command("resume")
def resume(reason: Reason = None, data_dir: DataDir = None) -> None:
    """Resume the schedules after a pause."""
    changed = run(_set_paused(settings_for(data_dir), False, reason))
    console.print(f"resumed {', '.join(changed) or 'nothing (no schedules)'}")


def _who() -> str:
    """user@host of whoever ran the command, for the schedule's note."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


async def _set_paused(settings: Settings, paused: bool, reason: str | None) -> list[str]:
    client = await connect(settings)
    return await set_paused(client, settings, paused, pause_note(paused, reason, _who()))


@schedule_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Per product: paused or running, by whom and why (the schedule's note), the next run."""
    rows = run(statuses(settings_for(data_dir)))
    if as_json:
        print_json([s.to_json() for s in rows])
        return
    console.print(status_table(rows))


async def statuses(settings: Settings) -> list[ScheduleStatus]:
    client = await connect(settings)
    return [
        await schedule_status(client, p, settings.temporal.task_queue)
        for p in settings.general.products
    ]


def status_table(rows: list[ScheduleStatus]) -> Table:
    table = Table(title="Schedules (times UTC)", title_justify="left")
    table.add_column("product", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("next run", no_wrap=True)
    table.add_column("note", overflow="fold")
    for s in rows:
        if not s.exists:
            state, next_run = "[yellow]no schedule[/yellow]", "`kripto schedule create`"
        elif s.paused:
            state, next_run = "[bold red]paused[/bold red]", "none while paused"
        else:
            state = "[green]running[/green]"
            next_run = f"{s.next_runs[0]:%Y-%m-%d %H:%M:%S}" if s.next_runs else "none"
        table.add_row(s.product_id, state, next_run, s.note)
    return table
