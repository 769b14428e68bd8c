"""No rate is lost while Postgres is down: a real Postgres is stopped mid-flow and started
again, and the tick's write lands once it is back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecution
from temporalio.testing import WorkflowEnvironment

from kripto.db import connect
from kripto.db.rates import RateRepository
from kripto.devstack.postgres import EmbeddedPostgres
from kripto.feeds import SimulatedFeed
from kripto.ids import store_rates_id
from kripto.models import ExchangeTickInput
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from workflows.exchange_tick import ExchangeTickWorkflow

pytestmark = pytest.mark.e2e


@pytest.fixture
def postgres(outside_tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A Postgres of this test's own, since the test stops it."""
    pg = EmbeddedPostgres(outside_tmp_path / "pg")
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture
def pg_settings(postgres: EmbeddedPostgres, task_queue: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=postgres.url,
        task_queue=task_queue,
        deployment_name=task_queue,
        feed="simulated",
        data_dir=tmp_path,
    )


@pytest.mark.slow
async def test_a_rate_fetched_while_postgres_is_down_is_stored_when_it_returns(
    dev_server_env: WorkflowEnvironment, postgres: EmbeddedPostgres, pg_settings: Settings
) -> None:
    client, settings, task_queue = (
        dev_server_env.client,
        pg_settings,
        pg_settings.temporal.task_queue,
    )
    services = await build_services(settings)
    try:
        async with running_worker(client, settings, services):
            before = await client.execute_workflow(
                ExchangeTickWorkflow.run,
                ExchangeTickInput(),
                id=f"tick-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            assert before.stored == 1  # the pool now holds a connection that the stop will break

            postgres.stop()
            await asyncio.sleep(1)  # ticks are stamped to the second: make this a new one
            handle = await client.start_workflow(
                ExchangeTickWorkflow.run,
                ExchangeTickInput(),
                id=f"tick-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            failure = await wait_for_failed_write(client, task_queue, attempts=2)
            assert "Postgres unavailable, 1 rates at" in failure

            postgres.start()
            during = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        await services.close()

    assert during.stored == 1
    db = await connect(postgres.url)
    try:
        stored = await RateRepository(db).since("BTC-GBP", before.at)
    finally:
        await db.close()
    feed = SimulatedFeed(seed=settings.exchange.feed_seed)
    assert [(r.date_time, r.rate) for r in stored] == [
        (before.at, feed.price_at("BTC-GBP", before.at)),
        (during.at, feed.price_at("BTC-GBP", during.at)),
    ]


async def wait_for_failed_write(client: Client, task_queue: str, attempts: int) -> str:
    """Wait until the store child's write_rates has failed `attempts` times; its last failure."""
    query = f"WorkflowType = 'StoreRatesWorkflow' AND TaskQueue = '{task_queue}'"
    for _ in range(120):
        async for info in client.list_workflows(query):
            described = await client.get_workflow_handle(info.id).describe()
            pending = described.raw_description.pending_activities
            running = info.status is not None and info.status.name == "RUNNING"
            if running and pending and pending[0].attempt > attempts:
                return str(pending[0].last_failure.message)
        await asyncio.sleep(0.5)
    raise AssertionError("write_rates never failed while Postgres was down")


@pytest.mark.slow
async def test_an_outage_longer_than_the_decisions_deadline_still_stores_the_rate(
    dev_server_env: WorkflowEnvironment, postgres: EmbeddedPostgres, pg_settings: Settings
) -> None:
    """The decision gives up after its deadline (50 s) and fails; the tick does not fail with
    it, and its store child keeps retrying and stores the rate once Postgres is back."""
    client, settings, task_queue = (
        dev_server_env.client,
        pg_settings,
        pg_settings.temporal.task_queue,
    )
    services = await build_services(settings)
    try:
        async with running_worker(client, settings, services):
            postgres.stop()
            tick = await client.start_workflow(
                ExchangeTickWorkflow.run,
                ExchangeTickInput(),
                id=f"tick-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            decide = await wait_for(
                client, "DecideMarketsWorkflow", task_queue, running=False, seconds=120
            )
            assert decide.status is not None and decide.status.name == "FAILED"
            store = await wait_for(client, "StoreRatesWorkflow", task_queue, running=True)
            assert (await tick.describe()).status.name == "RUNNING"  # type: ignore[union-attr]

            postgres.start()
            result = await asyncio.wait_for(tick.result(), timeout=90)
    finally:
        await services.close()

    assert (result.stored, result.actions) == (1, {"BTC-GBP": "none"})
    assert result.reason is not None and result.reason.startswith("no decisions: ")
    assert store.id == store_rates_id("coinbase", result.at)
    db = await connect(postgres.url)
    try:
        stored = await RateRepository(db).since("BTC-GBP", result.at)
    finally:
        await db.close()
    feed = SimulatedFeed(seed=settings.exchange.feed_seed)
    assert [(r.date_time, r.rate) for r in stored] == [
        (result.at, feed.price_at("BTC-GBP", result.at))
    ]


async def wait_for(
    client: Client, workflow_type: str, task_queue: str, *, running: bool, seconds: float = 30
) -> WorkflowExecution:
    """The first workflow of the type on this test's queue that is running (or has closed)."""
    query = f"WorkflowType = '{workflow_type}' AND TaskQueue = '{task_queue}'"
    async with asyncio.timeout(seconds):
        while True:
            async for info in client.list_workflows(query):
                if info.status is not None and (info.status.name == "RUNNING") == running:
                    return info
            await asyncio.sleep(0.5)
