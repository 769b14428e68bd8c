"""One schedule per exchange, ticking every configured product once a minute. Creating it is
idempotent: an unchanged schedule is left alone, a changed one is updated in place, and a
paused one stays paused.

A product's own schedule from builds before the exchange tick (`kripto-rates-<PRODUCT>`, which
started the retired RateTickWorkflow) is deleted by `kripto schedule create`; a pause on any of
them carries over to the exchange schedule (docs/architecture.md: retiring a workflow type)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from kripto.ids import (
    EXCHANGE,
    RECONCILE_SCHEDULE_ID,
    RECONCILE_WORKFLOW_ID,
    exchange_schedule_id,
    exchange_tick_id,
    legacy_schedule_id,
    reconcile_at_start_id,
    reconcile_schedule_id,
)
from kripto.models import ExchangeTickInput, ReconcileRequest
from kripto.settings import Settings
from kripto.temporal.search_attributes import amounts_memo, ensure_search_attributes
from workflows.exchange_tick import ExchangeTickWorkflow
from workflows.reconcile import ReconcileWorkflow

__all__ = [
    "RECONCILE_SCHEDULE_ID",
    "ensure_all_schedules",
    "ensure_reconcile_schedule",
    "ensure_schedules",
    "reconcile_at_start_id",
    "set_paused",
    "start_reconcile",
]

SPEC_MEMO = "kriptoSpec"
Outcome = Literal["created", "updated", "unchanged", "deleted"]

# ALLOW_ALL: each tick is independent (its own ID, its own minute). If Postgres is down, earlier
# ticks are still retrying their writes; skipping or buffering new ticks would lose their rates.
OVERLAP = ScheduleOverlapPolicy.ALLOW_ALL
# A tick that cannot start within a minute of its slot must not read a price (the spot price
# belongs to a later minute; storing it under the missed one would misdate it). The server
# still starts such a tick for five minutes, so the worker counts it, logs it and fails it
# (ExchangeTickWorkflow, TickTooLate) rather than the server skipping it unseen.
CATCHUP_SECONDS = 300
DEFAULT_CRON = "* * * * *"
#: Schedules created or updated at once (each is a few round trips to the server).
PARALLEL = 16


def desired_exchange_schedule(
    settings: Settings, exchange: str = EXCHANGE, start_at: datetime | None = None
) -> tuple[Schedule, str]:
    """The exchange's schedule: every minute at :00 (the tick reads every price at once, so
    there is nothing to spread), one ExchangeTickWorkflow for all of `settings.products`."""
    if settings.temporal.schedule_every is not None:
        spec = ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=settings.temporal.schedule_every)]
        )
        cadence = f"every {settings.temporal.schedule_every.total_seconds():g}s"
    elif settings.temporal.schedule_cron.split() == DEFAULT_CRON.split():
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))])
        cadence = "every minute"
    else:
        spec = ScheduleSpec(cron_expressions=[settings.temporal.schedule_cron])
        cadence = f"cron {settings.temporal.schedule_cron}"
    spec.start_at = start_at
    fingerprint = hashlib.sha256(
        json.dumps(
            [
                exchange,
                settings.general.products,
                cadence,
                settings.temporal.task_queue,
                OVERLAP.name,
            ]
            + [CATCHUP_SECONDS]
            + ([] if settings.encryption.amounts_in_metadata else ["no amounts in metadata"])
        ).encode()
    ).hexdigest()[:16]
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ExchangeTickWorkflow.run,
            ExchangeTickInput(exchange=exchange, products=list(settings.general.products)),
            id=exchange_tick_id(exchange),
            task_queue=settings.temporal.task_queue,
            memo={
                SPEC_MEMO: fingerprint,
                **(amounts_memo(settings.encryption.amounts_in_metadata) or {}),
            },
            static_summary=(
                f"{exchange} tick of {len(settings.general.products)} markets ({cadence})"
            ),
        ),
        spec=spec,
        policy=SchedulePolicy(overlap=OVERLAP, catchup_window=timedelta(seconds=CATCHUP_SECONDS)),
    )
    return schedule, fingerprint


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
    every = settings.exchange.reconcile_every
    fingerprint = hashlib.sha256(
        json.dumps(
            [
                "reconcile",
                every.total_seconds(),
                settings.temporal.task_queue,
                "SKIP",
                CATCHUP_SECONDS,
            ]
        ).encode()
    ).hexdigest()[:16]
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileWorkflow.run,
            ReconcileRequest(),
            id=RECONCILE_WORKFLOW_ID,
            task_queue=settings.temporal.task_queue,
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
    """The reconciler's schedule, `kripto-reconcile` (suffixed by a task queue other than
    `kripto`): created, updated or left alone."""
    schedule, fingerprint = desired_reconcile_schedule(settings)
    return await _ensure(
        client, reconcile_schedule_id(settings.temporal.task_queue), schedule, fingerprint
    )


async def start_reconcile(
    client: Client, settings: Settings, workflow_id: str, request: ReconcileRequest | None = None
) -> WorkflowHandle[ReconcileWorkflow, Any]:
    """One reconciliation under `workflow_id`; an ID already used raises
    WorkflowAlreadyStartedError (REJECT_DUPLICATE), so a start-up run happens once."""
    return await client.start_workflow(
        ReconcileWorkflow.run,
        request or ReconcileRequest(),
        id=workflow_id,
        task_queue=settings.temporal.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary="compare the exchange with the books",
    )


async def ensure_schedules(
    client: Client, settings: Settings, parallel: int = PARALLEL
) -> dict[str, Outcome]:
    """The exchange's schedule, deleting the products' own schedules of earlier builds (see
    the module's docstring). Returns each schedule ID touched and what became of it."""
    # The ticks set KriptoMarkets: the namespace must know it first.
    await ensure_search_attributes(client, settings.temporal.temporal_namespace)
    gate = asyncio.Semaphore(parallel)
    legacy = [
        d
        for d in await asyncio.gather(
            *(_described(client, legacy_schedule_id(p), gate) for p in settings.general.products)
        )
        if d is not None
    ]
    paused = [d for d in legacy if d[1].schedule.state.paused]
    sid = exchange_schedule_id(EXCHANGE, settings.temporal.task_queue)
    outcomes: dict[str, Outcome] = {
        sid: await _ensure_exchange_schedule(
            client, settings, sid, paused_note=paused[0][1].schedule.state.note if paused else None
        )
    }

    async def delete(handle_id: str) -> Outcome:
        async with gate:
            await client.get_schedule_handle(handle_id).delete()
        return "deleted"

    deleted = await asyncio.gather(*(delete(i) for i, _ in legacy))
    outcomes.update(zip([i for i, _ in legacy], deleted, strict=True))
    return outcomes


async def _described(
    client: Client, sid: str, gate: asyncio.Semaphore
) -> tuple[str, ScheduleDescription] | None:
    async with gate:
        try:
            return sid, await client.get_schedule_handle(sid).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise


async def _ensure_exchange_schedule(
    client: Client,
    settings: Settings,
    sid: str,
    *,
    paused_note: str | None,
) -> Outcome:
    schedule, fingerprint = desired_exchange_schedule(settings)
    if paused_note is not None:  # the kill switch was on for the old schedules: keep it on
        schedule.state.paused = True
        schedule.state.note = paused_note
    return await _ensure(client, sid, schedule, fingerprint)


async def ensure_all_schedules(client: Client, settings: Settings) -> dict[str, Outcome]:
    """The exchange's tick schedule (deleting products' own) and the reconciler's, by
    schedule ID (`kripto schedule create`, `kripto dev`, starter.py)."""
    outcomes = dict(await ensure_schedules(client, settings))
    outcomes[reconcile_schedule_id(settings.temporal.task_queue)] = await ensure_reconcile_schedule(
        client, settings
    )
    return outcomes


async def first_tick(client: Client, settings: Settings) -> datetime | None:
    """When the exchange's schedule next starts a tick (its minute is the first the live feed
    stores), or None when it has none coming (paused, or no schedule)."""
    sid = exchange_schedule_id(EXCHANGE, settings.temporal.task_queue)
    try:
        described = await client.get_schedule_handle(sid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    upcoming = described.info.next_action_times
    return upcoming[0] if upcoming else None


async def set_paused(client: Client, settings: Settings, paused: bool, note: str) -> list[str]:
    """Pause or resume the exchange's schedule, and any product's own schedule of an earlier
    build that is still there; returns the schedule IDs it changed."""
    gate = asyncio.Semaphore(PARALLEL)
    ids = [exchange_schedule_id(EXCHANGE, settings.temporal.task_queue)]
    ids += [legacy_schedule_id(p) for p in settings.general.products]

    async def one(sid: str) -> str | None:
        handle = client.get_schedule_handle(sid)
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

    changed = await asyncio.gather(*(one(i) for i in ids))
    done = [sid for sid in changed if sid is not None]
    await _notify_kill_switch(client, settings, paused, note, done)
    return done


async def _notify_kill_switch(
    client: Client, settings: Settings, paused: bool, note: str, changed: list[str]
) -> None:
    """Every pause and resume, from anywhere (the CLI, the dashboard, a stop link, the bot),
    goes to the phone; the note (who and when) is the event's key."""
    from kripto.notify.messages import kill_switch
    from kripto.runtime.notify import notify

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
