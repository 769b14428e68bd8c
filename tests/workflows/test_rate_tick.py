"""The rate pipeline on the time-skipping test server, with a real worker and real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.feeds import SimulatedFeed
from kripto.models import Rate, RateTickInput, StoreRateInput
from kripto.settings import Settings
from kripto.temporal.search_attributes import ACTION, PRODUCT
from kripto.temporal.worker import build_services, build_worker
from tests.failures import root_cause
from tests.fakes.spot_server import Reply, SpotServer
from workflows.rate_tick import RateTickWorkflow
from workflows.store_rate import StoreRateWorkflow


@pytest.fixture
async def client(
    time_skipping_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[Client]:
    services = await build_services(settings)
    async with build_worker(time_skipping_env.client, settings, services):
        yield time_skipping_env.client
    await services.close()


async def test_a_tick_fetches_and_stores_the_rate_in_a_child(
    client: Client, settings: Settings, db: Database
) -> None:
    tick_id = f"rate-tick-BTC-GBP-{uuid.uuid4()}"
    result = await client.execute_workflow(
        RateTickWorkflow.run,
        RateTickInput(product_id="BTC-GBP"),
        id=tick_id,
        task_queue=settings.task_queue,
    )
    expected = SimulatedFeed(seed=settings.feed_seed).price_at("BTC-GBP", result.rate.date_time)
    assert result.stored is True
    assert result.rate.rate == expected
    assert result.rate.source == "simulated"
    assert result.rate.date_time.microsecond == 0
    stored = await RateRepository(db).since("BTC-GBP", result.rate.date_time)
    assert [(r.rate, r.date_time, r.source) for r in stored] == [
        (expected, result.rate.date_time, "simulated")
    ]
    at = f"{result.rate.date_time:%Y-%m-%dT%H:%M:%SZ}"
    child_id = f"store-rate-BTC-GBP-{at}"
    child = await client.get_workflow_handle(child_id).describe()
    assert child.parent_id == tick_id
    # The Web UI's story: what each one is, and what the tick found.
    assert child.typed_search_attributes.get(PRODUCT) == "BTC-GBP"
    assert await child.static_summary() == f"store BTC-GBP {expected:,} at {at}"
    decide = await client.get_workflow_handle(f"decide-BTC-GBP-{at}").describe()
    assert await decide.static_summary() == f"decide BTC-GBP at {expected:,} ({at})"
    assert decide.typed_search_attributes.get(PRODUCT) == "BTC-GBP"
    assert decide.typed_search_attributes.get(ACTION) == result.action == "hold"
    tick = await client.get_workflow_handle(tick_id).describe()
    assert tick.typed_search_attributes.get(ACTION) == "hold"
    details = await current_details(client, tick_id)
    assert details == f"BTC-GBP {expected:,} (simulated) → {result.reason}"


async def test_a_decision_that_fails_neither_fails_the_tick_nor_loses_its_rate(
    fresh_time_skipping_env: WorkflowEnvironment, settings: Settings, db: Database
) -> None:
    """The decider cannot record (its table is gone) and gives up after its deadline; the
    tick still completes, says why it made no decision, and its rate is stored."""
    await db.pool.execute("ALTER TABLE decisions RENAME TO decisions_elsewhere")
    tick_id = f"rate-tick-BTC-GBP-{uuid.uuid4()}"
    client = fresh_time_skipping_env.client
    services = await build_services(settings)
    try:
        async with build_worker(client, settings, services):
            result = await client.execute_workflow(
                RateTickWorkflow.run,
                RateTickInput(product_id="BTC-GBP"),
                id=tick_id,
                task_queue=settings.task_queue,
            )
    finally:
        await services.close()
    assert result.stored is True
    assert result.action is None
    assert result.reason is not None and result.reason.startswith("no decision: ")
    tick = await client.get_workflow_handle(tick_id).describe()
    assert tick.typed_search_attributes.get(ACTION) == "none"
    assert 'relation "decisions" does not exist' in result.reason
    stored = await RateRepository(db).since("BTC-GBP", result.rate.date_time)
    assert [r.rate for r in stored] == [result.rate.rate]


async def test_a_duplicate_store_stores_nothing_new(
    client: Client, settings: Settings, db: Database
) -> None:
    rate = Rate(
        rate=Decimal("8012.92"),
        date_time=datetime(2020, 5, 19, 19, 39, tzinfo=UTC),
        source="coinbase",
    )
    results = [
        await client.execute_workflow(
            StoreRateWorkflow.run,
            StoreRateInput(rate=rate),
            id=f"store-{uuid.uuid4()}",
            task_queue=settings.task_queue,
        )
        for _ in range(2)
    ]
    assert [r.stored for r in results] == [True, False]
    assert await RateRepository(db).count("BTC-GBP") == 1


async def test_garbage_from_coinbase_is_retried_then_fails_readably_and_stores_nothing(
    fresh_time_skipping_env: WorkflowEnvironment,
    settings: Settings,
    spot_server: SpotServer,
    db: Database,
) -> None:
    settings = settings.model_copy(update={"feed": "coinbase", "coinbase_url": spot_server.url})
    spot_server.fail_next(*[Reply(body=b'{"data": {"amount": "abc"}}')] * 100)
    services = await build_services(settings)
    async with build_worker(fresh_time_skipping_env.client, settings, services):
        with pytest.raises(WorkflowFailureError) as caught:
            await fresh_time_skipping_env.client.execute_workflow(
                RateTickWorkflow.run,
                RateTickInput(),
                id=f"rate-tick-{uuid.uuid4()}",
                task_queue=settings.task_queue,
            )
    await services.close()
    assert "Coinbase spot price for BTC-GBP: amount 'abc' is not a decimal number" in root_cause(
        caught.value
    )
    assert len(spot_server.requests) > 1  # it was retried
    assert await RateRepository(db).count("BTC-GBP") == 0


@pytest.mark.slow
async def test_coinbase_recovering_after_faults_stores_one_rate(
    time_skipping_env: WorkflowEnvironment,
    settings: Settings,
    spot_server: SpotServer,
    db: Database,
) -> None:
    settings = settings.model_copy(update={"feed": "coinbase", "coinbase_url": spot_server.url})
    spot_server.fail_next(Reply(status=500), Reply(status=429), Reply(body=b"garbage"))
    services = await build_services(settings)
    async with build_worker(time_skipping_env.client, settings, services):
        result = await time_skipping_env.client.execute_workflow(
            RateTickWorkflow.run,
            RateTickInput(),
            id=f"rate-tick-{uuid.uuid4()}",
            task_queue=settings.task_queue,
        )
    await services.close()
    assert result.rate.rate == Decimal("8012.92")
    assert len(spot_server.requests) == 4
    assert await RateRepository(db).count("BTC-GBP") == 1


async def test_bad_input_fails_the_workflow_at_once(client: Client, settings: Settings) -> None:
    handle = await client.start_workflow(
        "RateTickWorkflow",
        {"productId": "bitcoin"},
        id=f"rate-tick-{uuid.uuid4()}",
        task_queue=settings.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert "must look like BASE-QUOTE" in str(caught.value.cause)


async def current_details(client: Client, workflow_id: str) -> str:
    """What the Web UI shows under "Current Details": the built-in metadata query's answer."""
    metadata = await client.get_workflow_handle(workflow_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return metadata.current_details
