"""The upgrade in docs/deploying.md, `docker compose up -d --build`, with real `kripto worker
--drain` processes on the dev server, and the upgrade that goes wrong: a trade pinned to build A
waits on settlement; A's worker is stopped (SIGTERM, as compose stops a container) and drains,
taking its build out of routing (it takes no new workflows); B's worker starts and becomes
current as soon as it polls, whatever is pinned to A; A's worker is then killed mid-drain
(compose's stop_grace_period ends). Within 60 s B is current and ticks run on B; once A has had
no workers for KRIPTO_UPGRADE_GRACE, B's worker moves the trade to B with a versioning override
and it finishes there: one order, one trade row, one receipt. The timeline is printed
(docs/books.md)."""

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
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.flows.ticks import ExchangeTickInput
from kripto.models import Side, TradeRequest
from kripto.runtime.deployments import DeploymentError, deployment_status
from tests.e2e.test_metrics import free_port
from tests.fakes.coinbase_fixtures import FakeCoinbaseProcess, start_fake_coinbase_process
from workflows.exchange_tick import ExchangeTickWorkflow
from workflows.trade import TradeWorkflow

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


@pytest.mark.slow
async def test_an_upgrade_while_a_trade_waits_never_stalls(
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
        "KRIPTO_UPGRADE_GRACE": "5s",
        # One market order per trade: the test counts orders by key (maker-first has its own
        # tests, tests/workflows/test_trade_maker_first.py).
        "KRIPTO_EXECUTION": "taker",
        "COLUMNS": "200",  # one line per announcement
    }
    logs = {name: tmp_path / f"worker-{name}.log" for name in ("A", "B")}
    health_b = free_port()
    workers: dict[str, subprocess.Popen[bytes]] = {}
    began = time.monotonic()
    timeline: list[str] = []

    def note(event: str) -> None:
        timeline.append(f"{time.monotonic() - began:6.1f}s  {event}")

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

    async def current_is(build: str | None) -> bool:
        return await current_build(client, deployment, task_queue) == build

    async def healthz() -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as http:
            reply = await http.get(f"http://127.0.0.1:{health_b}/healthz")
        return reply.status_code, reply.json()

    async def healthy() -> bool:
        try:
            status, body = await healthz()
        except httpx.TransportError:
            return False
        return status == 200 and body["deployment"]["current"] == "B"

    fake_exchange.hold_settlement(True)
    try:
        start("A")
        await eventually(lambda: current_is("A"), "A current: the deployment's first build")
        note("build A polling and current")
        trade = await client.start_workflow(
            TradeWorkflow.run,
            TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
            id=f"trade-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await eventually(
            lambda: asyncio.sleep(0, fake_exchange.order_count() == 1), "the trade placed"
        )
        assert await pinned_build(client, trade.id) == "A"
        note("the trade placed its order on A (pinned to A); settlement held")

        # The upgrade: A's worker is stopped and drains; it takes no new workflows.
        workers["A"].terminate()
        await eventually(
            logged("A", "draining: 1 trade(s) pinned to build A still running"), "A drains"
        )
        assert "build A takes no new workflows" in logs["A"].read_text()
        assert await current_is(None)
        note("SIGTERM to A: A drains, out of routing (no current build)")
        # A trade started now is not taken by the draining A: it waits for the next build.
        later = await client.start_workflow(
            TradeWorkflow.run,
            TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
            id=f"later-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        start("B", health_b)
        await eventually(lambda: current_is("B"), "B current as soon as it polls")
        note("build B current (B polled; the trade still pinned to A)")
        assert await pinned_build(client, trade.id) == "A"
        await eventually(
            lambda: asyncio.sleep(0, fake_exchange.order_count() == 2), "the later trade placed"
        )
        assert await pinned_build(client, later.id) == "B"
        note("the trade started while A drained was placed on B, not A")

        # Compose's stop_grace_period ends: A is killed mid-drain.
        workers["A"].kill()
        workers["A"].wait()
        killed = time.monotonic()
        note("SIGKILL to A mid-drain")
        fake_exchange.hold_settlement(False)

        # Within 60 s of the kill: B current, /healthz 200, and a tick runs on B.
        await eventually(healthy, "B's /healthz 200 with B current", within=60)
        tick = await client.start_workflow(
            ExchangeTickWorkflow.run,
            ExchangeTickInput(exchange="coinbase", products=["BTC-GBP"]),
            id=f"tick-coinbase-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await asyncio.wait_for(tick.result(), timeout=60 - (time.monotonic() - killed))
        assert await pinned_build(client, tick.id) == "B"
        note("a tick ran on B")

        # The trade, pinned to a build with no workers, moves to B after the grace, finishes.
        order = await asyncio.wait_for(trade.result(), timeout=120)
        assert order.settled is True
        note("the trade finished on B: settled, recorded, receipted")
        assert await pinned_build(client, trade.id) == "B"
        moved = f"trade {trade.id} moved from build A"
        await eventually(logged("B", moved), "B says it moved the trade", within=10)
        described = await trade.describe()
        info = described.raw_description.workflow_execution_info.versioning_info
        assert info.versioning_override.pinned.version.build_id == "B"
        assert (await asyncio.wait_for(later.result(), timeout=30)).settled is True
    finally:
        fake_exchange.hold_settlement(False)
        for worker in workers.values():
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
        for build, path in logs.items():  # shown when the test fails
            print(f"--- worker {build} ---\n{path.read_text() if path.exists() else ''}")
        print("--- timeline ---", *timeline, sep="\n")
        (tmp_path / "timeline.txt").write_text("\n".join(timeline) + "\n")

    # The trade that waited through the upgrade: one order, one row, one receipt (and the
    # later one its own).
    orders = fake_exchange.state()["orders"]
    assert sorted(o["client_order_id"] for o in orders) == sorted([trade.id, later.id])
    rows = await db.pool.fetch("SELECT trade_id, settled FROM trades")
    assert sorted((r["trade_id"], r["settled"]) for r in rows) == sorted(
        [(trade.id, True), (later.id, True)]
    )
    receipts = await db.pool.fetch("SELECT trade_id, status, attempts FROM receipts")
    assert sorted((r["trade_id"], r["status"], r["attempts"]) for r in receipts) == sorted(
        [(trade.id, "sent", 1), (later.id, "sent", 1)]
    )
