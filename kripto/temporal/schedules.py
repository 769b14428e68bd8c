"""One schedule per product. Creating them is idempotent: an unchanged schedule is left alone,
a changed one is updated in place, and a paused one stays paused."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from typing import Any, Literal

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
    WorkflowHandle,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from kripto.models import RateTickInput, ReconcileRequest
from kripto.settings import Settings
from kripto.temporal.search_attributes import PRODUCT, amounts_memo, ensure_search_attributes
from workflows.ids import (
    RECONCILE_SCHEDULE_ID,
    RECONCILE_WORKFLOW_ID,
    reconcile_at_start_id,
    schedule_id,
    tick_workflow_id,
)
from workflows.rate_tick import RateTickWorkflow
from workflows.reconcile import ReconcileWorkflow

__all__ = [
    "RECONCILE_SCHEDULE_ID",
    "ensure_all_schedules",
    "ensure_reconcile_schedule",
    "ensure_schedule",
    "ensure_schedules",
    "reconcile_at_start_id",
    "set_paused",
    "start_reconcile",
]

SPEC_MEMO = "kriptoSpec"
Outcome = Literal["created", "updated", "unchanged"]

# ALLOW_ALL: each tick is independent (its own ID, its own minute). If Postgres is down, earlier
# ticks are still retrying their writes; skipping or buffering new ticks would lose their rates.
OVERLAP = ScheduleOverlapPolicy.ALLOW_ALL
# A tick that cannot start within a minute of its slot must not read a price (the spot price
# belongs to a later minute; storing it under the missed one would misdate it). The server
# still starts such a tick for five minutes, so the worker counts it, logs it and fails it
# (RateTickWorkflow, TickTooLate) rather than the server skipping it unseen.
CATCHUP_SECONDS = 300
DEFAULT_CRON = "* * * * *"
#: Ticks fire this far into their minute at most: spread over 45 s, so that hundreds of
#: products do not all start at :00, while the slowest tick still reads its price well
#: within the feed's two minutes.
SPREAD_SECONDS = 45
#: Schedules created or updated at once (each is a few round trips to the server).
PARALLEL = 16


def tick_offset(product_id: str) -> int:
    """A product's fixed second within each minute: a hash of its ID, so every worker and
    every `kripto schedule create` agree, and a product's ticks stay one minute apart."""
    digest = hashlib.sha256(product_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % SPREAD_SECONDS


def desired_schedule(settings: Settings, product_id: str) -> tuple[Schedule, str]:
    offset = 0
    if settings.schedule_every is not None:
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=settings.schedule_every)])
        cadence = f"every {settings.schedule_every.total_seconds():g}s"
    elif settings.schedule_cron.split() == DEFAULT_CRON.split():
        # Every minute, at the product's own second (the tick still stands for the minute).
        offset = tick_offset(product_id)
        every_minute = ScheduleIntervalSpec(
            every=timedelta(minutes=1), offset=timedelta(seconds=offset)
        )
        spec = ScheduleSpec(intervals=[every_minute])
        cadence = f"every minute at :{offset:02d}"
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
            RateTickInput(product_id=product_id, offset_seconds=offset),
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
    return await _ensure(client, schedule_id(product_id), schedule, fingerprint)


async def _ensure(client: Client, sid: str, schedule: Schedule, fingerprint: str) -> Outcome:
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


def desired_reconcile_schedule(settings: Settings) -> tuple[Schedule, str]:
    """Every KRIPTO_RECONCILE_EVERY. A run still going when the next is due makes that one
    skip (SKIP): two reconciliations at once would compare the same books twice."""
    every = settings.reconcile_every
    fingerprint = hashlib.sha256(
        json.dumps(
            ["reconcile", every.total_seconds(), settings.task_queue, "SKIP", CATCHUP_SECONDS]
        ).encode()
    ).hexdigest()[:16]
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileWorkflow.run,
            ReconcileRequest(),
            id=RECONCILE_WORKFLOW_ID,
            task_queue=settings.task_queue,
            memo={SPEC_MEMO: fingerprint},
            static_summary=f"compare the exchange with the books every {every.total_seconds():g}s",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(seconds=CATCHUP_SECONDS)
        ),
    )
    return schedule, fingerprint


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> Outcome:
    """The reconciler's schedule, `kripto-reconcile`: created, updated or left alone."""
    schedule, fingerprint = desired_reconcile_schedule(settings)
    return await _ensure(client, RECONCILE_SCHEDULE_ID, schedule, fingerprint)


async def start_reconcile(
    client: Client, settings: Settings, workflow_id: str, request: ReconcileRequest | None = None
) -> WorkflowHandle[ReconcileWorkflow, Any]:
    """One reconciliation under `workflow_id`; an ID already used raises
    WorkflowAlreadyStartedError (REJECT_DUPLICATE), so a start-up run happens once."""
    return await client.start_workflow(
        ReconcileWorkflow.run,
        request or ReconcileRequest(),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary="compare the exchange with the books",
    )


async def ensure_schedules(
    client: Client, settings: Settings, parallel: int = PARALLEL
) -> dict[str, Outcome]:
    """Every product's schedule, `parallel` at a time (one at a time, 300 took 134 s)."""
    # The ticks carry KriptoProduct from their start: the namespace must know it first.
    await ensure_search_attributes(client, settings.temporal_namespace)
    gate = asyncio.Semaphore(parallel)

    async def one(product_id: str) -> Outcome:
        async with gate:
            return await ensure_schedule(client, settings, product_id)

    outcomes = await asyncio.gather(*(one(p) for p in settings.products))
    return dict(zip(settings.products, outcomes, strict=True))


async def ensure_all_schedules(client: Client, settings: Settings) -> dict[str, Outcome]:
    """Every product's rate schedule and the reconciler's, by schedule ID (`kripto schedule
    create`, starter.py)."""
    outcomes = {
        schedule_id(product): outcome
        for product, outcome in (await ensure_schedules(client, settings)).items()
    }
    outcomes[RECONCILE_SCHEDULE_ID] = await ensure_reconcile_schedule(client, settings)
    return outcomes


async def set_paused(client: Client, settings: Settings, paused: bool, note: str) -> list[str]:
    """Pause or resume every product's schedule, `PARALLEL` at a time (the kill switch should
    not take minutes over hundreds of products); returns the schedule IDs it changed."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(product_id: str) -> str | None:
        handle = client.get_schedule_handle(schedule_id(product_id))
        async with gate:
            try:
                if paused:
                    await handle.pause(note=note)
                else:
                    await handle.unpause(note=note)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None
                raise
        return handle.id

    changed = await asyncio.gather(*(one(p) for p in settings.products))
    done = [sid for sid in changed if sid is not None]
    await _notify_kill_switch(client, settings, paused, note, done)
    return done


async def _notify_kill_switch(
    client: Client, settings: Settings, paused: bool, note: str, changed: list[str]
) -> None:
    """Every pause and resume, from anywhere (the CLI, the dashboard, a stop link, the bot),
    goes to the phone; the note (who and when) is the event's key."""
    from kripto.notify.messages import kill_switch
    from kripto.notify.start import notify

    key = hashlib.sha256(f"{paused}|{note}".encode()).hexdigest()[:20]
    await notify(client, settings, kill_switch(paused, note, changed, key))


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
