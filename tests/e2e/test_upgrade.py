"""The upgrade in docs/deploying.md, `docker compose up -d --build`, with real `kripto worker`
processes on the dev server: the worker of build A is stopped (SIGTERM, as compose stops a
container) and a worker of build B starts. A trade pinned to A still runs, so A's worker keeps
polling until it has finished (it is not stranded) and B does not take over meanwhile; then A's
worker retires its build and exits, and B's worker, finding the current build with no workers
and nothing pinned to it, makes B current: a new trade and the wallet (auto-upgrading, as ticks
are) run on B, and /healthz says so. With B's last worker gone too, the deployment has no
current build with workers and health says that."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from kripto.db import Database
from kripto.metrics import Metrics
from kripto.models import Order, Side, TradeRequest, WalletRequest
from kripto.runtime.deployments import DeploymentError, deployment_status
from kripto.runtime.monitor import Monitor
from tests.e2e.test_metrics import free_port
from tests.fakes.coinbase_fixtures import FakeCoinbaseProcess, start_fake_coinbase_process
from workflows.trade import TradeWorkflow
from workflows.wallet import WalletWorkflow

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_exchange(tmp_path: Path) -> Iterator[FakeCoinbaseProcess]:
    fake = start_fake_coinbase_process(tmp_path)
    yield fake
    fake.stop()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g}s: {what}")
        await asyncio.sleep(0.3)


async def current_build(client: Client, deployment: str, task_queue: str) -> str | None:
    try:
        status = await deployment_status(client, deployment, task_queue)
    except DeploymentError:
        return None  # no worker has polled yet
    return status.current.build_id if status.current else None


async def pinned_build(client: Client, workflow_id: str) -> str:
    described = await client.get_workflow_handle(workflow_id).describe()
    info = described.raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id


async def test_stopping_the_only_worker_for_a_new_build_strands_nothing_and_hands_over(
    dev_server_env: WorkflowEnvironment,
    fake_exchange: FakeCoinbaseProcess,
    database_url: str,
    db: Database,
    task_queue: str,
    tmp_path: Path,
) -> None:
    client = dev_server_env.client
    deployment = task_queue
    key_file = tmp_path / "coinbase.pem"
    key_file.write_text(fake_exchange.private_key_pem)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KRIPTO_DEPLOYMENT_NAME": deployment,
        "KRIPTO_TASK_QUEUE": task_queue,
        "KRIPTO_DATABASE_URL": database_url,
        "KRIPTO_EXCHANGE": "coinbase",
        "KRIPTO_FEED": "coinbase",
        "KRIPTO_COINBASE_URL": fake_exchange.url,
        "KRIPTO_COINBASE_API_KEY_NAME": fake_exchange.key_name,
        "KRIPTO_COINBASE_API_PRIVATE_KEY_FILE": str(key_file),
        "KRIPTO_DATA_DIR": str(tmp_path),
        "KRIPTO_METRICS_PORT": "0",
        "COLUMNS": "200",  # one line per announcement
    }
    logs = {name: tmp_path / f"worker-{name}.log" for name in ("A", "B")}
    health_b = free_port()
    workers: dict[str, subprocess.Popen[bytes]] = {}

    def start(build: str, health_port: int = 0) -> None:
        with logs[build].open("ab") as log:
            workers[build] = subprocess.Popen(
                [sys.executable, "-m", "kripto", "worker", "--drain"],
                cwd=REPO,
                env={**env, "KRIPTO_BUILD_ID": build, "KRIPTO_HEALTH_PORT": str(health_port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def logged(build: str, text: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return text in logs[build].read_text()

        return check

    async def current_is(build: str) -> bool:
        return await current_build(client, deployment, task_queue) == build

    async def healthz() -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as http:
            reply = await http.get(f"http://127.0.0.1:{health_b}/healthz")
        return reply.status_code, reply.json()

    async def answers() -> bool:
        try:
            await healthz()
        except httpx.TransportError:
            return False
        return True

    async def trade(label: str) -> str:
        handle = await client.start_workflow(
            TradeWorkflow.run,
            TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
            id=f"{label}-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        return handle.id

    fake_exchange.hold_settlement(True)
    try:
        start("A")
        await eventually(lambda: current_is("A"), "A current: the deployment's first build")
        trade1 = await trade("trade1")
        await eventually(
            lambda: asyncio.sleep(0, fake_exchange.order_count() == 1), "trade1 placed"
        )
        assert await pinned_build(client, trade1) == "A"

        # The upgrade: A's worker is stopped and B's starts (compose replaces the container).
        workers["A"].terminate()
        start("B", health_b)
        await eventually(
            logged("A", "draining: 1 trade(s) pinned to build A still running"), "A drains"
        )
        await eventually(answers, "B's /healthz answers")
        # While A's worker finishes trade1, A stays current: B does not take its work away.
        status, body = await healthz()
        assert (status, body["deployment"]["current"]) == (200, "A")
        assert workers["A"].poll() is None and await current_is("A")

        fake_exchange.hold_settlement(False)
        order = await client.get_workflow_handle_for(TradeWorkflow.run, trade1).result()
        assert order.settled is True
        assert await asyncio.to_thread(workers["A"].wait, 60) == 0
        assert "build A retired" in logs["A"].read_text()
        await eventually(lambda: current_is("B"), "B took over", within=30)
        took_over = "build B is current: build A had no workers polling and no running trades"
        await eventually(logged("B", took_over), "B says it took over")

        # New work runs on B: a trade, and the wallet.
        trade2 = await trade("trade2")
        order2: Order = await client.get_workflow_handle_for(TradeWorkflow.run, trade2).result()
        assert order2.settled is True and await pinned_build(client, trade2) == "B"
        # And an auto-upgrading workflow, as the ticks are (the fake exchange serves no spot
        # price for a tick to read): the wallet, which runs on the current build, B.
        wallet = f"wallet-{uuid.uuid4()}"
        shown = await client.execute_workflow(
            WalletWorkflow.run, WalletRequest(), id=wallet, task_queue=task_queue
        )
        assert "gbp" in shown.to_json_dict() and await pinned_build(client, wallet) == "B"
        status, body = await healthz()
        assert status == 200
        assert (body["deployment"]["current"], body["deployment"]["currentPollers"]) == ("B", 1)

        # B's last worker goes too: its deployment has no current build with workers.
        workers["B"].terminate()
        assert await asyncio.to_thread(workers["B"].wait, 60) == 0
        fake_worker = cast(Worker, SimpleNamespace(task_queue=task_queue))
        monitor = Monitor(
            client,
            db,
            Metrics.noop(),
            ["BTC-GBP"],
            fake_worker,
            deployment=WorkerDeploymentVersion(deployment, "C"),
        )
        assert await monitor.routing() == (
            False,
            {"name": deployment, "build": "C", "current": "B", "currentPollers": 0},
        )
    finally:
        fake_exchange.hold_settlement(False)
        for worker in workers.values():
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for build, path in logs.items():  # shown when the test fails
            print(f"--- worker {build} ---\n{path.read_text() if path.exists() else ''}")

    orders = fake_exchange.state()["orders"]
    assert sorted(o["client_order_id"] for o in orders) == sorted([trade1, trade2])
    rows = await db.pool.fetch("SELECT trade_id FROM trades")
    assert sorted(r["trade_id"] for r in rows) == sorted([trade1, trade2])
