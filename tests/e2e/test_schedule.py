"""The exchange's schedule on the real dev server: ticks store rates, and each tick's children
are its children."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import (
    Client,
    ScheduleBackfill,
    ScheduleOverlapPolicy,
    WorkflowFailureError,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.ids import schedule_id
from kripto.runtime.schedules import ensure_schedules, set_paused
from kripto.runtime.tick_stats import TICKS
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from kripto.temporal.failures import root_cause
from tests.temporal_fixtures import history_bytes, record_history


@pytest.mark.slow
async def test_schedule_ticks_store_rates_through_child_workflows(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database
) -> None:
    client: Client = dev_server_env.client
    settings = settings.model_copy(update={"schedule_every": timedelta(seconds=2)})
    rates = RateRepository(db)
    services = await build_services(settings)
    sid = schedule_id("BTC-GBP", settings.temporal.task_queue)
    handle = client.get_schedule_handle(sid)
    try:
        async with running_worker(client, settings, services):
            assert await ensure_schedules(client, settings) == {sid: "created"}

            async with asyncio.timeout(30):
                while await rates.count("BTC-GBP") < 2:
                    await asyncio.sleep(0.5)
            await handle.pause(note="test done")
            await asyncio.sleep(1)  # let a tick in flight finish
            mine = f"TaskQueue = '{settings.temporal.task_queue}'"
            ticks = [
                w
                async for w in client.list_workflows(
                    f"WorkflowType = 'ExchangeTickWorkflow' AND {mine}"
                )
            ]
            stores = [
                w
                async for w in client.list_workflows(
                    f"WorkflowType = 'StoreRatesWorkflow' AND {mine}"
                )
            ]
    finally:
        await handle.delete()
        await services.close()

    assert len(ticks) >= 2
    assert all(t.id.startswith("tick-coinbase-") for t in ticks)
    tick_ids = {t.id for t in ticks}
    for store in stores:
        described = await client.get_workflow_handle(store.id).describe()
        assert described.parent_id in tick_ids
        assert store.id.startswith("store-rates-coinbase-")
    stored = await rates.since("BTC-GBP", min(t.start_time for t in ticks) - timedelta(minutes=1))
    assert len(stored) >= 2
    assert {r.source for r in stored} == {"simulated"}

    completed = [t for t in ticks if t.status is not None and t.status.name == "COMPLETED"]
    # A scheduled tick's workflows together, as the dev server keeps them: under 12 KB.
    tick = completed[0]
    stamp = tick.id.removeprefix("tick-coinbase-")
    ids = [tick.id, f"store-rates-coinbase-{stamp}", f"decide-coinbase-{stamp}"]
    sizes = {w: await history_bytes(client, w) for w in ids}
    assert sum(sizes.values()) < 12_000, sizes


async def test_creating_schedules_is_idempotent_and_keeps_a_pause(
    dev_server_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = dev_server_env.client
    settings = settings.model_copy(update={"products": ["ETH-GBP"], "task_queue": "kripto-idle"})
    sid = schedule_id("ETH-GBP", "kripto-idle")
    handle = client.get_schedule_handle(sid)
    try:
        assert await ensure_schedules(client, settings) == {sid: "created"}
        assert await ensure_schedules(client, settings) == {sid: "unchanged"}
        assert await set_paused(client, settings, True, "kill switch") == [sid]
        faster = settings.model_copy(update={"schedule_every": timedelta(seconds=30)})
        assert await ensure_schedules(client, faster) == {sid: "updated"}
        description = await handle.describe()
        assert description.schedule.state.paused is True
        assert [i.every for i in description.schedule.spec.intervals] == [timedelta(seconds=30)]
        assert await ensure_schedules(client, faster) == {sid: "unchanged"}
        more = faster.model_copy(update={"products": ["ETH-GBP", "BTC-GBP"]})
        assert await ensure_schedules(client, more) == {sid: "updated"}
    finally:
        await handle.delete()


async def test_ticks_fire_at_each_minute_and_late_ones_are_counted(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database
) -> None:
    """Every minute at :00; a backfill over the last three minutes gives ticks whose slots
    passed over a minute ago (counted, logged and failed as TickTooLate, nothing stored) and
    the newest slot's tick (stored under its minute)."""
    client: Client = dev_server_env.client
    product = "SOL-GBP"
    settings = settings.model_copy(update={"products": [product]})
    rates = RateRepository(db)
    services = await build_services(settings)
    handle = client.get_schedule_handle(schedule_id(product, settings.temporal.task_queue))
    late_before = TICKS.late["coinbase"]
    try:
        await ensure_schedules(client, settings)
        await handle.pause(note="only the backfill runs")
        spec = (await handle.describe()).schedule.spec
        assert [(i.every, i.offset) for i in spec.intervals] == [(timedelta(minutes=1), None)]
        now = datetime.now(UTC)
        async with running_worker(client, settings, services):
            await handle.backfill(
                ScheduleBackfill(
                    start_at=now - timedelta(minutes=3),
                    end_at=now,
                    overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                )
            )
            queue = settings.temporal.task_queue
            mine = f"WorkflowType = 'ExchangeTickWorkflow' AND TaskQueue = '{queue}'"
            async with asyncio.timeout(45):
                while True:
                    ticks = [w async for w in client.list_workflows(mine)]
                    if len(ticks) >= 3 and all(t.status.name != "RUNNING" for t in ticks):  # type: ignore[union-attr]
                        break
                    await asyncio.sleep(0.5)
    finally:
        await handle.delete()
        await services.close()

    late = [t for t in ticks if t.status.name == "FAILED"]  # type: ignore[union-attr]
    done = [t for t in ticks if t.status.name == "COMPLETED"]  # type: ignore[union-attr]
    newest = max(t.id for t in ticks)
    assert len(late) >= 2 and [t.id for t in done] in ([], [newest])
    assert TICKS.late["coinbase"] - late_before == len(late)
    for tick in late:
        with pytest.raises(WorkflowFailureError) as failed:
            await client.get_workflow_handle(tick.id).result()
        cause = root_cause(failed.value)
        assert isinstance(cause, ApplicationError) and cause.type == "TickTooLate"
        assert cause.non_retryable is True
        assert cause.message.startswith("tick coinbase ")
        assert cause.message.endswith(
            " s after its slot; skipped: prices read now would be stored under the wrong minute"
        )
    stored = await rates.since(product, now - timedelta(minutes=4))
    assert [r.date_time.second for r in stored] == [0] * len(done)
    assert len(stored) == len(done)
    await record_history(client, late[0].id, "exchange_tick-v1-late")
