"""The trading kill switch: `kripto schedule pause`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from temporalio.client import Client, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from workflows.ids import schedule_id

#: `kripto schedule pause` writes the time into the schedule's note.
_NOTED_AT = re.compile(r" at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


def pause_note(paused: bool, at: datetime) -> str:
    """The note `kripto schedule pause` and `resume` leave on the schedule. It carries the time:
    the schedule's own update time moves whenever a worker starts and updates it."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if paused:
        return f"paused with `kripto schedule pause` at {stamp}"
    return f"resumed with `kripto schedule resume` at {stamp}"


class KillSwitch:
    """`kripto schedule pause` is the kill switch. A paused schedule starts no ticks, and the
    decider asks here too, so a tick that was already running when the switch was thrown does
    not trade either."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def _describe(self, product_id: str) -> ScheduleDescription | None:
        try:
            return await self.client.get_schedule_handle(schedule_id(product_id)).describe()
        except RPCError as exc:
            # No schedule, or a server without schedules (the time-skipping test server):
            # nothing was paused.
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNIMPLEMENTED):
                return None
            raise

    async def engaged(self, product_id: str) -> bool:
        described = await self._describe(product_id)
        return described is not None and described.schedule.state.paused

    async def engaged_since(self, product_id: str) -> datetime | None:
        """When the switch was thrown for the product, or None while it is off: the time in
        the pause's note, else (a pause from the Web UI or the `temporal` CLI) the schedule's
        last update."""
        described = await self._describe(product_id)
        if described is None or not described.schedule.state.paused:
            return None
        noted = _NOTED_AT.search(described.schedule.state.note or "")
        if noted:
            return datetime.strptime(noted.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return described.info.last_updated_at or datetime.now(UTC)
