"""The trading kill switch: `kripto schedule pause`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.ids import schedule_id


class KillSwitch:
    """`kripto schedule pause` is the kill switch. A paused schedule starts no ticks, and the
    decider asks here too, so a tick that was already running when the switch was thrown does
    not trade either."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def engaged(self, product_id: str) -> bool:
        try:
            described = await self.client.get_schedule_handle(schedule_id(product_id)).describe()
        except RPCError as exc:
            # No schedule, or a server without schedules (the time-skipping test server):
            # nothing was paused.
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNIMPLEMENTED):
                return False
            raise
        return described.schedule.state.paused
