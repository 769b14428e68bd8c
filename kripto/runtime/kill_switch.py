"""The trading kill switch: `kripto schedule pause`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from kripto.ids import DEFAULT_TASK_QUEUE, schedule_id

#: `kripto schedule pause` writes the time into the schedule's note.
_NOTED_AT = re.compile(r" at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")
#: How long a "not paused" answer is trusted. A pause reaches a decision already under way
#: within this long; new ticks stop at once (a paused schedule starts none).
RUNNING_TTL_SECONDS = 5.0


class KillSwitch:
    """`kripto schedule pause` is the kill switch. A paused schedule starts no ticks, and the
    decider asks here too, so a tick that was already running when the switch was thrown does
    not trade either.

    Describing a schedule is a server round trip (a query of the schedule's own workflow), so
    a "running" answer is kept for `ttl` seconds; a "paused" answer is never kept, so resuming
    takes effect at the next decision and a pause is seen within `ttl` seconds."""

    def __init__(
        self,
        client: Client,
        ttl: float = RUNNING_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        task_queue: str = DEFAULT_TASK_QUEUE,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.ttl = ttl
        self.clock = clock
        self._running_until: dict[str, float] = {}

    async def _describe(self, product_id: str) -> ScheduleDescription | None:
        try:
            sid = schedule_id(product_id, self.task_queue)
            return await self.client.get_schedule_handle(sid).describe()
        except RPCError as exc:
            # No schedule, or a server without schedules (the time-skipping test server):
            # nothing was paused.
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNIMPLEMENTED):
                return None
            raise

    async def engaged(self, product_id: str) -> bool:
        sid = schedule_id(product_id, self.task_queue)
        if self.clock() < self._running_until.get(sid, float("-inf")):
            return False
        asked = self.clock()
        described = await self._describe(product_id)
        paused = described is not None and described.schedule.state.paused
        if paused:
            self._running_until.pop(sid, None)
        else:
            self._running_until[sid] = asked + self.ttl
        return paused

    async def paused_products(self, products: list[str]) -> set[str]:
        """Which of `products` the kill switch holds: one describe per schedule they share (an
        exchange tick asks once for all its markets)."""
        by_schedule: dict[str, list[str]] = {}
        for p in products:
            by_schedule.setdefault(schedule_id(p, self.task_queue), []).append(p)
        paused: set[str] = set()
        for group in by_schedule.values():
            if await self.engaged(group[0]):
                paused.update(group)
        return paused

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


@dataclass(frozen=True)
class ScheduleStatus:
    """One product's schedule as `kripto schedule status` shows it: paused or not, the note
    the last pause or resume left (who and why), and when it next starts a tick."""

    product_id: str
    schedule_id: str
    exists: bool
    paused: bool = False
    note: str = ""
    next_runs: tuple[datetime, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "productId": self.product_id,
            "scheduleId": self.schedule_id,
            "exists": self.exists,
            "paused": self.paused,
            "note": self.note,
            "nextRuns": [t.isoformat() for t in self.next_runs],
        }


async def schedule_status(
    client: Client, product_id: str, task_queue: str = DEFAULT_TASK_QUEUE
) -> ScheduleStatus:
    """The schedule's state from describe: `state.paused`, `state.note` and
    `info.next_action_times` (none while paused)."""
    sid = schedule_id(product_id, task_queue)
    try:
        described = await client.get_schedule_handle(sid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return ScheduleStatus(product_id, sid, exists=False)
        raise
    state = described.schedule.state
    return ScheduleStatus(
        product_id,
        sid,
        exists=True,
        paused=state.paused,
        note=state.note or "",
        # The server lists the times the spec fires even while paused; none of them happens.
        next_runs=() if state.paused else tuple(described.info.next_action_times),
    )


def pause_note(paused: bool, reason: str | None, who: str, at: datetime | None = None) -> str:
    """What a pause or resume leaves on the schedule: who, with what, when and why. The Web UI
    and `kripto schedule status` show it, and the kill switch metric reads when it was thrown
    from it (the schedule's own update time moves whenever a worker starts and updates it)."""
    verb = "paused" if paused else "resumed"
    command = "kripto schedule pause" if paused else "kripto schedule resume"
    stamp = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{verb} by {who} with `{command}` at {stamp}" + (f": {reason}" if reason else "")
