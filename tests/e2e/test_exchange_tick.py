"""One tick per exchange a minute, on the real dev server: 200 markets for two scheduled
minutes, the prices from the fake Coinbase server (which counts its requests), every minute
ticked once; and the switch from the products' own schedules without a stranded minute."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.feeds.coinbase import PAGE_SIZE
from kripto.ids import exchange_schedule_id, legacy_schedule_id
from kripto.models import ExchangeTickResult
from kripto.settings import Settings
from kripto.temporal.schedules import ensure_schedule, ensure_schedules, set_paused, tick_offset
from kripto.temporal.search_attributes import MARKETS
from kripto.temporal.worker import build_services, running_worker
from tests.fakes.coinbase_fixtures import FakeCoinbase

MARKETS_COUNT = 200


def markets(count: int) -> list[str]:
    return [f"M{i:03d}-GBP" for i in range(count)]


async def test_200_markets_two_scheduled_minutes_each_ticked_once(
    dev_server_env: WorkflowEnvironment,
    settings: Settings,
    db: Database,
    fake_coinbase: FakeCoinbase,
) -> None:
    client: Client = dev_server_env.client
    products = markets(MARKETS_COUNT)
    fake_coinbase.server.price_all = True
    settings = settings.model_copy(
        update={"products": products, "feed": "coinbase", "coinbase_url": fake_coinbase.url}
    )
    services = await build_services(settings)
    sid = exchange_schedule_id("coinbase", settings.task_queue)
    handle = client.get_schedule_handle(sid)
    # Two whole minutes the schedule has not reached yet: its backfill runs both ticks now,
    # each standing for its own minute, and the live schedule cannot tick them first.
    first = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=3)
    minutes = [first, first + timedelta(minutes=1)]
    query = f"WorkflowType = 'ExchangeTickWorkflow' AND TaskQueue = '{settings.task_queue}'"
    try:
        async with running_worker(client, settings, services):
            assert await ensure_schedules(client, settings) == {sid: "created"}
            await handle.backfill(
                ScheduleBackfill(
                    start_at=minutes[0],
                    end_at=minutes[1] + timedelta(seconds=1),
                    overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                )
            )
            async with asyncio.timeout(40):
                while True:
                    done = [
                        w
                        async for w in client.list_workflows(
                            f"{query} AND ExecutionStatus = 'Completed'"
                        )
                    ]
                    if len(done) >= 2:
                        break
                    await asyncio.sleep(0.5)
            ticks = [w async for w in client.list_workflows(query)]
            results = [
                await client.get_workflow_handle(w.id, result_type=ExchangeTickResult).result()
                for w in done
            ]
            described = await client.get_workflow_handle(done[0].id).describe()
            holds = await client.count_workflows(f'{query} AND KriptoMarkets = "hold"')
            of_market = await client.count_workflows(f'{query} AND KriptoMarkets = "M007-GBP"')
            bought = await client.count_workflows(f'{query} AND KriptoMarkets = "buy"')
            metadata = await client.get_workflow_handle(done[0].id).query(
                "__temporal_workflow_metadata", result_type=WorkflowMetadata
            )
    finally:
        await handle.delete()
        await services.close()

    # Every minute ticked exactly once, by one workflow for all 200 markets.
    stamps = sorted(w.id.removeprefix("tick-coinbase-") for w in ticks)
    assert stamps == [f"{m:%Y-%m-%dT%H:%M:%SZ}" for m in minutes]
    assert sorted((r.at, r.markets, r.stored) for r in results) == [
        (m, MARKETS_COUNT, MARKETS_COUNT) for m in minutes
    ]
    # Prices in pages: ceil(200 / 250) = 1 request a minute, 2 in all.
    assert fake_coinbase.server.price_requests() == 2 * math.ceil(MARKETS_COUNT / PAGE_SIZE) == 2
    rows = await db.pool.fetch(
        "SELECT date_time, count(*) AS n, count(DISTINCT product_id) AS p FROM rates"
        " WHERE date_time = ANY($1::timestamptz[]) GROUP BY date_time ORDER BY date_time",
        minutes,
    )
    assert [(r["date_time"], r["n"], r["p"]) for r in rows] == [
        (m, MARKETS_COUNT, MARKETS_COUNT) for m in minutes
    ]
    assert {r["source"] for r in await db.pool.fetch("SELECT DISTINCT source FROM rates")} == {
        "coinbase"
    }
    decided = await db.pool.fetch(
        "SELECT tick_time, count(*) AS n FROM decisions GROUP BY tick_time ORDER BY tick_time"
    )
    assert [(r["tick_time"], r["n"]) for r in decided] == [(m, MARKETS_COUNT) for m in minutes]
    # No history yet, so every market holds: the details list each one's rate and action.
    assert all(set(r.actions.values()) == {"hold"} for r in results)
    details = metadata.current_details
    price = fake_coinbase.server._price_of("M007-GBP")
    assert f"| M007-GBP | {price:,} | hold |" in details
    assert details.count("| hold |") == MARKETS_COUNT
    assert (holds.count, of_market.count, bought.count) == (2, 2, 0)
    listed = described.typed_search_attributes.get(MARKETS)
    assert listed is not None and listed[:2] == ["hold", "M000-GBP"]


async def test_the_switch_from_product_schedules_strands_no_minute(
    dev_server_env: WorkflowEnvironment, settings: Settings
) -> None:
    """Each old schedule keeps ticking its product up to the switch minute B and not after it;
    the exchange schedule ticks from B: every minute of every product is ticked once."""
    client: Client = dev_server_env.client
    products = ["SWA-GBP", "SWB-GBP", "SWC-GBP"]
    settings = settings.model_copy(update={"products": products})
    for p in products:
        assert await ensure_schedule(client, settings, p) == "created"
    sid = exchange_schedule_id("coinbase", settings.task_queue)
    now = datetime.now(UTC)
    try:
        outcomes = await ensure_schedules(client, settings, now=now)
        assert outcomes == {
            sid: "created",
            **{legacy_schedule_id(p): "retiring" for p in products},
        }
        switch = (now + timedelta(seconds=15)).replace(second=0, microsecond=0) + timedelta(
            minutes=1
        )
        new = await client.get_schedule_handle(sid).describe()
        assert new.info.next_action_times[0] == switch
        for p in products:
            old = await client.get_schedule_handle(legacy_schedule_id(p)).describe()
            assert old.schedule.spec.end_at == switch - timedelta(seconds=1)
            assert all(t < switch for t in old.info.next_action_times)
            # It still ticks every minute before the switch whose slot is still to come.
            minute = now.replace(second=0, microsecond=0)
            due = []
            while minute < switch:
                slot = minute + timedelta(seconds=tick_offset(p))
                if slot > now:
                    due.append(slot)
                minute += timedelta(minutes=1)
            assert old.info.next_action_times == due
        # Once B has passed, the next create deletes them.
        later = await ensure_schedules(client, settings, now=switch + timedelta(seconds=1))
        assert later == {sid: "unchanged", **{legacy_schedule_id(p): "deleted" for p in products}}
        # The kill switch: one pause for every product.
        assert await set_paused(client, settings, True, "test") == [sid]
    finally:
        await client.get_schedule_handle(sid).delete()
