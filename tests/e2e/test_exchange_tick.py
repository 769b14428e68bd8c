"""One tick per exchange a minute, on the real dev server: 200 markets for two scheduled
minutes, the prices from the fake Coinbase server (which counts its requests), every minute
ticked once; and the products' own schedules of earlier builds deleted, their pause kept."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.feeds.coinbase import PAGE_SIZE
from kripto.ids import exchange_schedule_id, legacy_schedule_id
from kripto.models import ExchangeTickResult
from kripto.runtime.schedules import ensure_schedules, set_paused
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from kripto.temporal.search_attributes import MARKETS
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
    sid = exchange_schedule_id("coinbase", settings.temporal.task_queue)
    handle = client.get_schedule_handle(sid)
    # Two whole minutes the schedule has not reached yet: its backfill runs both ticks now,
    # each standing for its own minute, and the live schedule cannot tick them first.
    first = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=3)
    minutes = [first, first + timedelta(minutes=1)]
    query = (
        f"WorkflowType = 'ExchangeTickWorkflow' AND TaskQueue = '{settings.temporal.task_queue}'"
    )
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


async def test_the_products_own_schedules_of_earlier_builds_are_deleted_and_their_pause_kept(
    dev_server_env: WorkflowEnvironment, settings: Settings
) -> None:
    """A product's own schedule started the retired RateTickWorkflow: `kripto schedule create`
    deletes it, and a pause on one (the kill switch) carries over to the exchange schedule."""
    client: Client = dev_server_env.client
    products = ["SWA-GBP", "SWB-GBP", "SWC-GBP"]
    settings = settings.model_copy(update={"products": products})
    for i, p in enumerate(products):
        await client.create_schedule(
            legacy_schedule_id(p),
            Schedule(
                action=ScheduleActionStartWorkflow(
                    "RateTickWorkflow",
                    {"productId": p},
                    id=f"rate-tick-{p}",
                    task_queue=settings.temporal.task_queue,
                ),
                # Not before tomorrow: no run of the retired type is started here.
                spec=ScheduleSpec(
                    intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))],
                    start_at=datetime.now(UTC) + timedelta(days=1),
                ),
                state=ScheduleState(paused=i == 0, note="stopped from the Web UI"),
            ),
        )
    sid = exchange_schedule_id("coinbase", settings.temporal.task_queue)
    try:
        outcomes = await ensure_schedules(client, settings)
        assert outcomes == {sid: "created", **{legacy_schedule_id(p): "deleted" for p in products}}
        new = await client.get_schedule_handle(sid).describe()
        assert (new.schedule.state.paused, new.schedule.state.note) == (
            True,
            "stopped from the Web UI",
        )
        assert await ensure_schedules(client, settings) == {sid: "unchanged"}
        # The kill switch: one pause for every product.
        assert await set_paused(client, settings, False, "test") == [sid]
    finally:
        await client.get_schedule_handle(sid).delete()
