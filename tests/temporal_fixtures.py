"""The real Temporal servers from their pip packages: the time-skipping test server for workflow
tests, and the dev server (the one `kripto dev` runs) for end-to-end tests."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from kripto.devstack.binaries import find_binary
from kripto.execution import Execution
from kripto.settings import Settings
from kripto.temporal.search_attributes import ensure_search_attributes


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=find_binary("temporal-test-server"),
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def fresh_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own: time only skips while nothing else is running
    on the server, so a test that waits out retry backoff must not share one with workflows
    that earlier tests left behind (an abandoned trade, say). It starts in well under a second."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=find_binary("temporal-test-server"),
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=find_binary("temporal"),
        dev_server_log_level="error",
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A task queue per test, so workers of different tests never take each other's tasks."""
    return f"kripto-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(database_url: str, task_queue: str, tmp_path: Path) -> Settings:
    """A Worker Deployment per test too (named after its task queue): a build made current by
    one test's worker never routes another test's workflows."""
    return Settings(
        database_url=database_url,
        task_queue=task_queue,
        deployment_name=task_queue,
        feed="simulated",
        data_dir=tmp_path,
        # The seed's sample arithmetic (0.5%: £10.00 buys 0.00125952 BTC at 7900.01), which the
        # trade tests assert; the default is Coinbase's lowest tier (tests/unit/test_fees.py).
        fee_rate=Decimal("0.005"),
        # Market orders, whose arithmetic the trade tests assert; maker-first has its own
        # (tests/workflows/test_trade_maker_first.py).
        execution=Execution.TAKER,
        # ... at the stored rate exactly: the paper exchange without the feed's price now or a
        # spread (tests/activities/test_paper_maker.py has those).
        paper_price="stored",
        paper_spread=Decimal(0),
        # Workflow mechanics on minute strategies: every minute, no protections (those have
        # tests of their own: tests/unit/test_protections.py, tests/workflows/test_protections.py).
        bar=timedelta(minutes=1),
        # The z-score (the default before issue 24; DCA now) with the fee alone as its edge test
        # (KRIPTO_MIN_EDGE=1): the decisions these mechanics tests expect. The default and the
        # gate have tests of their own (tests/unit/test_strategy_table.py, test_min_edge.py).
        strategy="zscore",
        min_edge=Decimal(1),
        stop_loss=Decimal(0),
        trailing_stop=Decimal(0),
        max_drawdown=Decimal(0),
        stop_loss_limit=0,
    )


HISTORIES = Path(__file__).parent / "histories"


async def record_history(client: Client, workflow_id: str, name: str) -> None:
    """With KRIPTO_RECORD_HISTORIES=1, save a finished workflow's history as
    `tests/histories/<name>.json` for tests/workflows/test_replay.py. Record one per workflow
    version and commit it: every later change must still replay it."""
    if not os.environ.get("KRIPTO_RECORD_HISTORIES"):
        return
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    recorded = {"workflowId": workflow_id, **history.to_json_dict()}
    (HISTORIES / f"{name}.json").write_text(json.dumps(recorded, indent=1))


async def history_bytes(client: Client, workflow_id: str) -> int:
    """The size of a workflow's history as the server keeps it (its events, encoded)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(event.ByteSize() for event in history.events)
