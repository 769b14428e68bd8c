"""One schedule per product. Creating them is idempotent: an unchanged schedule is left alone,
a changed one is updated in place, and a paused one stays paused."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Literal

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from kripto.models import RateTickInput
from kripto.settings import Settings
from kripto.temporal.search_attributes import PRODUCT, amounts_memo, ensure_search_attributes
from workflows.ids import schedule_id, tick_workflow_id
from workflows.rate_tick import RateTickWorkflow

SPEC_MEMO = "kriptoSpec"
Outcome = Literal["created", "updated", "unchanged"]

# ALLOW_ALL: each tick is independent (its own ID, its own minute). If Postgres is down, earlier
# ticks are still retrying their writes; skipping or buffering new ticks would lose their rates.
OVERLAP = ScheduleOverlapPolicy.ALLOW_ALL
# A tick that cannot start within a minute of its slot is skipped: the spot price it would read
# belongs to a later minute, and storing it under the missed one would misdate it.
CATCHUP_SECONDS = 60


def desired_schedule(settings: Settings, product_id: str) -> tuple[Schedule, str]:
    if settings.schedule_every is not None:
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=settings.schedule_every)])
        cadence = f"every {settings.schedule_every.total_seconds():g}s"
    else:
        spec = ScheduleSpec(cron_expressions=[settings.schedule_cron])
        cadence = f"cron {settings.schedule_cron}"
    fingerprint = hashlib.sha256(
        json.dumps(
            [product_id, cadence, settings.task_queue, OVERLAP.name, CATCHUP_SECONDS, PRODUCT.name]
            # Turning encryption on or off changes what ticks may show: update the schedule.
            + ([] if settings.amounts_in_metadata else ["no amounts in metadata"])
        ).encode()
    ).hexdigest()[:16]
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RateTickWorkflow.run,
            RateTickInput(product_id=product_id),
            id=tick_workflow_id(product_id),
            task_queue=settings.task_queue,
            memo={SPEC_MEMO: fingerprint, **(amounts_memo(settings.amounts_in_metadata) or {})},
            static_summary=f"{product_id} rate tick ({cadence})",
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(PRODUCT, product_id)]
            ),
        ),
        spec=spec,
        policy=SchedulePolicy(overlap=OVERLAP, catchup_window=timedelta(seconds=CATCHUP_SECONDS)),
    )
    return schedule, fingerprint


async def ensure_schedule(client: Client, settings: Settings, product_id: str) -> Outcome:
    schedule, fingerprint = desired_schedule(settings, product_id)
    sid = schedule_id(product_id)
    try:
        await client.create_schedule(sid, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(sid)
    current = await handle.describe()
    if await _fingerprint(client, current.schedule) == fingerprint:
        return "unchanged"

    def update(input: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule.state = input.description.schedule.state  # keep a pause (the kill switch)
        return ScheduleUpdate(schedule=schedule)

    await handle.update(update)
    return "updated"


async def ensure_schedules(client: Client, settings: Settings) -> dict[str, Outcome]:
    # The ticks carry KriptoProduct from their start: the namespace must know it first.
    await ensure_search_attributes(client, settings.temporal_namespace)
    return {p: await ensure_schedule(client, settings, p) for p in settings.products}


async def set_paused(client: Client, settings: Settings, paused: bool, note: str) -> list[str]:
    """Pause or resume every product's schedule; returns the schedule IDs it changed."""
    changed = []
    for product_id in settings.products:
        handle = client.get_schedule_handle(schedule_id(product_id))
        try:
            if paused:
                await handle.pause(note=note)
            else:
                await handle.unpause(note=note)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        changed.append(handle.id)
    return changed


async def _fingerprint(client: Client, schedule: Schedule) -> str | None:
    action = schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or not action.memo:
        return None
    value = action.memo.get(SPEC_MEMO)
    if isinstance(value, Payload):
        try:  # a described schedule's memo is raw: it may be encrypted
            [value] = await client.data_converter.decode([value], [str])
        except Exception:  # sealed with a key no longer listed, say: rewrite it
            return None
    return value if isinstance(value, str) else None
