"""The schedule on the real dev server: ticks store rates, and each tick's child is its child."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.settings import Settings
from kripto.temporal.schedules import ensure_schedules, set_paused
from kripto.temporal.worker import build_services, running_worker
from tests.temporal_fixtures import history_bytes, record_history
from workflows.ids import schedule_id


async def test_schedule_ticks_store_rates_through_child_workflows(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database
) -> None:
    client: Client = dev_server_env.client
    settings = settings.model_copy(update={"schedule_every": timedelta(seconds=2)})
    rates = RateRepository(db)
    services = await build_services(settings)
    handle = client.get_schedule_handle(schedule_id("BTC-GBP"))
    try:
        async with running_worker(client, settings, services):
            assert await ensure_schedules(client, settings) == {"BTC-GBP": "created"}

            async with asyncio.timeout(30):
                while await rates.count("BTC-GBP") < 2:
                    await asyncio.sleep(0.5)
            await handle.pause(note="test done")
            await asyncio.sleep(1)  # let a tick in flight finish
            mine = f"TaskQueue = '{settings.task_queue}'"
            ticks = [
                w
                async for w in client.list_workflows(
                    f"WorkflowType = 'RateTickWorkflow' AND {mine}"
                )
            ]
            stores = [
                w
                async for w in client.list_workflows(
                    f"WorkflowType = 'StoreRateWorkflow' AND {mine}"
                )
            ]
    finally:
        await handle.delete()
        await services.close()

    assert len(ticks) >= 2
    assert all(t.id.startswith("rate-tick-BTC-GBP-") for t in ticks)
    tick_ids = {t.id for t in ticks}
    for store in stores:
        described = await client.get_workflow_handle(store.id).describe()
        assert described.parent_id in tick_ids
        assert store.id.startswith("store-rate-BTC-GBP-")
    stored = await rates.since("BTC-GBP", min(t.start_time for t in ticks) - timedelta(minutes=1))
    assert len(stored) >= 2
    assert {r.source for r in stored} == {"simulated"}

    completed = [t for t in ticks if t.status is not None and t.status.name == "COMPLETED"]
    # A scheduled tick's workflows together, as the dev server keeps them: under 10 KB.
    tick = completed[0]
    stamp = tick.id.removeprefix("rate-tick-BTC-GBP-")
    ids = [tick.id, f"store-rate-BTC-GBP-{stamp}", f"decide-BTC-GBP-{stamp}"]
    sizes = {w: await history_bytes(client, w) for w in ids}
    assert sum(sizes.values()) < 10_000, sizes
    await record_history(client, tick.id, "rate_tick-v3")
    await record_history(client, ids[1], "store_rate-v2")


async def test_creating_schedules_is_idempotent_and_keeps_a_pause(
    dev_server_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = dev_server_env.client
    settings = settings.model_copy(update={"products": ["ETH-GBP"], "task_queue": "kripto-idle"})
    handle = client.get_schedule_handle(schedule_id("ETH-GBP"))
    try:
        assert await ensure_schedules(client, settings) == {"ETH-GBP": "created"}
        assert await ensure_schedules(client, settings) == {"ETH-GBP": "unchanged"}
        assert await set_paused(client, settings, True, "kill switch") == ["kripto-rates-ETH-GBP"]
        faster = settings.model_copy(update={"schedule_every": timedelta(seconds=30)})
        assert await ensure_schedules(client, faster) == {"ETH-GBP": "updated"}
        description = await handle.describe()
        assert description.schedule.state.paused is True
        assert [i.every for i in description.schedule.spec.intervals] == [timedelta(seconds=30)]
        assert await ensure_schedules(client, faster) == {"ETH-GBP": "unchanged"}
    finally:
        await handle.delete()
