"""SIGTERM to a `kripto worker` process in the middle of a trade: it stops polling, lets the
running activity finish within KRIPTO_SHUTDOWN_GRACE or hands it back to Temporal when the grace
runs out, and exits 0; another worker finishes the trade, with one order on the exchange.

Everything is a real process: the dev server, the workers and the fake Coinbase Advanced Trade
server (its slow-reply and hang faults hold the order's POST; `settle_after` keeps it unsettled).
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.models import Order, Side, TradeRequest
from tests.e2e.workers import (
    KRIPTO_WORKER,
    PYTHON_WORKER_PY,
    WorkerProcess,
    activity_runs,
    start_worker,
    wait_polling,
    worker_env,
)
from tests.fakes.coinbase_fixtures import FakeCoinbaseProcess, start_fake_coinbase_process
from workflows.trade import TradeWorkflow

pytestmark = pytest.mark.e2e


@pytest.fixture
def fake_exchange(tmp_path: Path) -> Iterator[FakeCoinbaseProcess]:
    fake = start_fake_coinbase_process(tmp_path)
    yield fake
    fake.stop()


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def live_env(
    env: WorkflowEnvironment,
    fake: FakeCoinbaseProcess,
    database_url: str,
    task_queue: str,
    folder: Path,
    **extra: str,
) -> dict[str, str]:
    key_file = folder / "coinbase.pem"
    key_file.write_text(fake.private_key_pem)
    return worker_env(
        env.client.service_client.config.target_host,
        KRIPTO_DATABASE_URL=database_url,
        KRIPTO_TASK_QUEUE=task_queue,
        KRIPTO_EXCHANGE="coinbase",
        KRIPTO_FEED="coinbase",
        KRIPTO_COINBASE_URL=fake.url,
        KRIPTO_COINBASE_API_KEY_NAME=fake.key_name,
        KRIPTO_COINBASE_API_PRIVATE_KEY_FILE=str(key_file),
        KRIPTO_DATA_DIR=str(folder),
        **extra,
    )


async def pending_activity(handle: WorkflowHandle[TradeWorkflow, Order]) -> tuple[str, str]:
    """The activity the trade is running now and the worker running it, or ("", "")."""
    described = await handle.describe()
    for pending in described.raw_description.pending_activities:
        if pending.last_worker_identity and pending.last_started_time.seconds:
            return pending.activity_type.name, pending.last_worker_identity
    return "", ""


async def assert_one_trade(
    key: str, order: Order, fake: FakeCoinbaseProcess, db: Database, folder: Path
) -> None:
    assert fake.order_count() == 1
    [placed] = fake.state()["orders"]
    assert (placed["client_order_id"], placed["order_id"]) == (key, order.id)
    assert order.settled is True
    assert order.funds == Decimal("10.00")
    assert await db.pool.fetchval("SELECT count(*) FROM trades") == 1
    assert await db.pool.fetchval("SELECT trade_id FROM trades") == key
    receipt = await db.pool.fetchrow("SELECT trade_id, status FROM receipts")
    assert (receipt["trade_id"], receipt["status"]) == (key, "sent")
    assert len(list((folder / "outbox").glob("*.eml"))) == 1


def assert_graceful(worker: WorkerProcess, code: int, grace: str) -> None:
    output = worker.output()
    assert code == 0, output
    assert (
        f"worker shutting down: taking no new tasks; running activities have {grace} to finish"
        in output
    ), output
    assert "worker stopped after" in output, output
    assert "Traceback" not in output, output


@pytest.mark.parametrize("command", [KRIPTO_WORKER, PYTHON_WORKER_PY], ids=["kripto", "worker.py"])
@pytest.mark.slow
async def test_sigterm_lets_a_slow_order_finish_within_the_grace(
    command: list[str],
    dev_server_env: WorkflowEnvironment,
    fake_exchange: FakeCoinbaseProcess,
    database_url: str,
    db: Database,
    task_queue: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """The default grace (30 s) outlasts a 3 s order: the worker places it, then exits 0."""
    env = live_env(dev_server_env, fake_exchange, database_url, task_queue, tmp_path)
    fake_exchange.inject({"kind": "slow", "seconds": 3, "method": "POST", "path": "/orders"})
    first = start_worker("first", env, tmp_path, command)
    workers.append(first)
    await wait_polling([first])
    key = str(uuid.uuid4())
    handle = await dev_server_env.client.start_workflow(
        TradeWorkflow.run,
        TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
        id=key,
        task_queue=task_queue,
    )
    # The POST has taken the slow fault: the order is on its way, not yet on the exchange.
    async with asyncio.timeout(30):
        while fake_exchange.state()["pending_faults"] or await pending_activity(handle) != (
            "place_order",
            first.identity,
        ):
            await asyncio.sleep(0.1)
    assert fake_exchange.order_count() == 0

    first.signal(signal.SIGTERM)
    assert_graceful(first, await first.exit_code(within=30), "30s")
    assert fake_exchange.order_count() == 1  # placed within the grace, not cut off

    second = start_worker("second", env, tmp_path)
    workers.append(second)
    await wait_polling([second])
    order = await asyncio.wait_for(handle.result(), timeout=60)

    await assert_one_trade(key, order, fake_exchange, db, tmp_path)
    runs = {r.activity: r for r in await activity_runs(dev_server_env.client, key)}
    # The order was placed once, on the first attempt, by the worker that was told to stop.
    assert (runs["place_order"].identity, runs["place_order"].attempt) == (first.identity, 1)
    assert runs["write_trade"].identity == second.identity
    assert runs["send_receipt"].identity == second.identity
    # Each worker compared the exchange with the books as it started (one run per minute).
    query = f"WorkflowType = 'ReconcileWorkflow' AND TaskQueue = '{task_queue}'"
    async with asyncio.timeout(10):
        while not (started := [w.id async for w in dev_server_env.client.list_workflows(query)]):
            await asyncio.sleep(0.1)
    assert 1 <= len(started) <= 2
    assert all(i.startswith("reconcile-at-start-") for i in started), started


@pytest.mark.parametrize("step", ["place_order", "await_settlement"])
@pytest.mark.slow
async def test_sigterm_past_the_grace_hands_the_activity_to_another_worker(
    step: str,
    dev_server_env: WorkflowEnvironment,
    fake_exchange: FakeCoinbaseProcess,
    database_url: str,
    db: Database,
    task_queue: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """A 2 s grace, and an activity that outlasts it: the exchange holds its reply to the
    order's POST (the order exists), or the order does not settle. The worker cancels the
    activity, which the SDK hands back as a retryable "WorkerShutdown" failure, and exits 0;
    the next worker's attempt finds the order by the trade's key and finishes the trade."""
    env = live_env(
        dev_server_env,
        fake_exchange,
        database_url,
        task_queue,
        tmp_path,
        KRIPTO_SHUTDOWN_GRACE="2s",
    )
    if step == "place_order":
        fake_exchange.inject({"kind": "hang", "seconds": 60, "method": "POST", "path": "/orders"})
    else:
        configure(fake_exchange, settle_after=1_000_000)
    first = start_worker("first", env, tmp_path)
    workers.append(first)
    await wait_polling([first])
    key = str(uuid.uuid4())
    handle = await dev_server_env.client.start_workflow(
        TradeWorkflow.run,
        TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
        id=key,
        task_queue=task_queue,
    )
    async with asyncio.timeout(30):
        while fake_exchange.order_count() == 0 or await pending_activity(handle) != (
            step,
            first.identity,
        ):
            await asyncio.sleep(0.1)

    first.signal(signal.SIGTERM)
    assert_graceful(first, await first.exit_code(within=30), "2s")
    configure(fake_exchange, settle_after=0)

    second = start_worker("second", env, tmp_path)
    workers.append(second)
    await wait_polling([second])
    order = await asyncio.wait_for(handle.result(), timeout=60)

    await assert_one_trade(key, order, fake_exchange, db, tmp_path)
    runs = {r.activity: r for r in await activity_runs(dev_server_env.client, key)}
    # The second attempt ran on the second worker, after the first one handed the step back.
    assert runs[step].identity == second.identity
    assert (runs[step].attempt, runs[step].last_failure) == (2, "WorkerShutdown")
    assert runs["write_trade"].identity == second.identity


def configure(fake: FakeCoinbaseProcess, **config: int) -> None:
    httpx.post(f"{fake.url}/_config", json=config, timeout=5).raise_for_status()


@pytest.mark.slow
async def test_a_second_signal_ends_the_worker_at_once(
    dev_server_env: WorkflowEnvironment,
    fake_exchange: FakeCoinbaseProcess,
    database_url: str,
    task_queue: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """SIGTERM starts the 30 s grace; Ctrl-C after it does not wait for the held order."""
    env = live_env(dev_server_env, fake_exchange, database_url, task_queue, tmp_path)
    fake_exchange.inject({"kind": "hang", "seconds": 60, "method": "POST", "path": "/orders"})
    worker = start_worker("worker", env, tmp_path, PYTHON_WORKER_PY)
    workers.append(worker)
    await wait_polling([worker])
    handle = await dev_server_env.client.start_workflow(
        TradeWorkflow.run,
        TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
        id=str(uuid.uuid4()),
        task_queue=task_queue,
    )
    async with asyncio.timeout(30):
        while fake_exchange.order_count() == 0 or await pending_activity(handle) != (
            "place_order",
            worker.identity,
        ):
            await asyncio.sleep(0.1)

    worker.signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        while "worker shutting down" not in worker.output():
            await asyncio.sleep(0.1)
    worker.signal(signal.SIGINT)
    code = await worker.exit_code(within=10)

    output = worker.output()
    assert code == 128 + signal.SIGINT.value, output
    assert "SIGINT received again: exiting without waiting for running activities" in output
    assert "worker stopped" not in output
    await handle.terminate("test done")
