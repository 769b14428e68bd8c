"""Pausing and resuming automatic trading (the kill switch), and reading its state, for every
face: each change carries a note saying who made it, from where and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.service import RPCError

from kripto.ids import schedule_id
from kripto.runtime.kill_switch import ScheduleStatus, schedule_status
from kripto.runtime.schedules import set_paused
from kripto.settings import Settings


def stamp(at: datetime | None = None) -> str:
    """The time in the form the kill switch metric reads back from a pause's note."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def pause(client: Client, settings: Settings, note: str) -> list[str]:
    """Pause every schedule that ticks the products; returns the schedule IDs changed."""
    return await set_paused(client, settings, True, note)


async def resume(client: Client, settings: Settings, note: str) -> list[str]:
    return await set_paused(client, settings, False, note)


async def statuses(client: Client, settings: Settings) -> list[ScheduleStatus]:
    """Each product's schedule: paused or not, its note, its next ticks."""
    return [
        await schedule_status(client, p, settings.temporal.task_queue)
        for p in settings.general.products
    ]


@dataclass(frozen=True)
class ScheduleState:
    paused: bool | None
    note: str
    next_tick: datetime | None


async def schedule_state(client: Client, settings: Settings, product_id: str) -> ScheduleState:
    """The product's schedule as the dashboard shows it; paused None when it cannot be read."""
    try:
        described = await client.get_schedule_handle(
            schedule_id(product_id, settings.temporal.task_queue)
        ).describe()
    except RPCError as exc:
        return ScheduleState(None, f"no schedule ({exc.message})", None)
    upcoming = described.info.next_action_times
    return ScheduleState(
        described.schedule.state.paused,
        described.schedule.state.note or "",
        upcoming[0] if upcoming else None,
    )
