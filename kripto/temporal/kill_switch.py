"""The trading kill switch: `kripto schedule pause`."""

from __future__ import annotations

import time
from collections.abc import Callable

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.ids import schedule_id

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
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._running_until: dict[str, float] = {}

    async def engaged(self, product_id: str) -> bool:
        if self.clock() < self._running_until.get(product_id, float("-inf")):
            return False
        asked = self.clock()
        paused = await self._describe(product_id)
        if paused:
            self._running_until.pop(product_id, None)
        else:
            self._running_until[product_id] = asked + self.ttl
        return paused

    async def _describe(self, product_id: str) -> bool:
        try:
            described = await self.client.get_schedule_handle(schedule_id(product_id)).describe()
        except RPCError as exc:
            # No schedule, or a server without schedules (the time-skipping test server):
            # nothing was paused.
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNIMPLEMENTED):
                return False
            raise
        return described.schedule.state.paused
