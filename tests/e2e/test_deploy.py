"""A deploy of a build whose TradeWorkflow cannot replay the old build's histories, and its
rollback, on the real dev server with real worker processes, a real Postgres and the fake
Coinbase Advanced Trade server holding orders unsettled on demand.

Build A is `python worker.py` (its build ID derived from the code); build B is
`python -m tests.e2e.build_b` (one extra step in TradeWorkflow, KRIPTO_BUILD_ID=B). A trade
waiting on A survives the promotion of B and finishes on A, once; new trades run on B; A drains.
Then `kripto deploy rollback` does the same in reverse. Run with -s to see the timeline."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from kripto.build_id import code_build_id
from kripto.db import Database
from kripto.devstack.binaries import find_binary
from kripto.models import Order, Side, TradeRequest
from kripto.runtime.deployments import DeploymentError, deployment_status
from tests.e2e.build_b import EXTRA_STEP
from tests.fakes.coinbase_fixtures import FakeCoinbaseProcess, start_fake_coinbase_process
from workflows.trade import TradeWorkflow

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
BUILD_B = "B"
#: The server re-checks a draining version's workflows every few minutes by default, after a
#: grace period for visibility to catch up; a second each keeps the test short.
FAST_DRAINAGE = [
    "--dynamic-config-value",
    'matching.wv.VersionDrainageStatusRefreshInterval="1s"',
    "--dynamic-config-value",
    'matching.wv.VersionDrainageStatusVisibilityGracePeriod="1s"',
]
Trade = WorkflowHandle[TradeWorkflow, Order]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this test's own, with fast drainage checks."""
    environment = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=find_binary("temporal"),
        dev_server_log_level="error",
        dev_server_extra_args=FAST_DRAINAGE,
    )
    try:
        yield environment
    finally:
        await environment.shutdown()


@pytest.fixture
def fake_exchange(tmp_path: Path) -> Iterator[FakeCoinbaseProcess]:
    fake = start_fake_coinbase_process(tmp_path)
    yield fake
    fake.stop()


class Timeline:
    """What happened when, printed at the end for the reader (pytest -s)."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        self.lines.append(f"t+{time.monotonic() - self.start:5.1f}s  {text}")

    def print(self) -> None:
        print("\n--- deploy timeline ---\n" + "\n".join(self.lines) + "\n-----------------------")


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g}s: {what}")
        await asyncio.sleep(0.5)


async def kripto_cli(env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kripto",
        *args,
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def kripto_cli_fails(env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kripto",
        *args,
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert (proc.returncode, out) == (2, b"")
    return err.decode().strip()


async def pinned_build(client: Client, trade_id: str) -> str:
    described = await client.get_workflow_handle(trade_id).describe()
    info = described.raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id


async def extra_steps(client: Client, trade_id: str) -> list[bytes]:
    """The summaries of the trade's timers: B's extra step is one; A's TradeWorkflow has none."""
    history = await client.get_workflow_handle(trade_id).fetch_history()
    return [
        e.user_metadata.summary.data
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]


@pytest.mark.slow
async def test_a_deploy_pins_running_trades_and_a_rollback_reverses_it(
    env: WorkflowEnvironment,
    fake_exchange: FakeCoinbaseProcess,
    database_url: str,
    db: Database,
    task_queue: str,
    tmp_path: Path,
) -> None:
    client = env.client
    deployment = f"kripto-deploy-{uuid.uuid4().hex[:6]}"
    build_a = code_build_id()
    names = {build_a: "A", BUILD_B: "B"}
    key_file = tmp_path / "coinbase.pem"
    key_file.write_text(fake_exchange.private_key_pem)
    cli_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KRIPTO_DEPLOYMENT_NAME": deployment,
        "KRIPTO_TASK_QUEUE": task_queue,
    }
    worker_env = {
        **cli_env,
        "KRIPTO_DATABASE_URL": database_url,
        "KRIPTO_EXCHANGE": "coinbase",
        "KRIPTO_FEED": "coinbase",
        "KRIPTO_COINBASE_URL": fake_exchange.url,
        "KRIPTO_COINBASE_API_KEY_NAME": fake_exchange.key_name,
        "KRIPTO_COINBASE_API_PRIVATE_KEY_FILE": str(key_file),
        "KRIPTO_DATA_DIR": str(tmp_path),
        # One market order per trade, as this test follows it (maker-first has its own tests).
        "KRIPTO_EXECUTION": "taker",
        # Two workers at once, beside whatever else runs here: no metrics or /healthz ports.
        "KRIPTO_METRICS_PORT": "0",
        "KRIPTO_HEALTH_PORT": "0",
    }
    timeline = Timeline()
    log = (tmp_path / "workers.log").open("ab")
    workers: list[subprocess.Popen[bytes]] = []

    def start_worker(args: list[str], extra: dict[str, str]) -> None:
        workers.append(
            subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                env={**worker_env, **extra},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    async def routing_is(current: str, *present: str) -> bool:
        try:
            status = await deployment_status(client, deployment, task_queue)
        except DeploymentError:
            return False  # no worker has polled yet
        return (
            status.current is not None
            and status.current.build_id == current
            and all(status.get(b) is not None for b in present)
        )

    async def drainage_is(build: str, drainage: str) -> None:
        async def check() -> bool:
            version = (await deployment_status(client, deployment, task_queue)).get(build)
            return version is not None and version.drainage == drainage

        await eventually(check, f"build {names[build]} {drainage}", within=30)

    async def shown_status() -> tuple[str, dict[str, dict[str, Any]]]:
        shown = json.loads(await kripto_cli(cli_env, "deploy", "status", "--json"))
        return shown["current"], {v["buildId"]: v for v in shown["versions"]}

    async def place(label: str) -> Trade:
        orders_before = fake_exchange.order_count()
        handle = await client.start_workflow(
            TradeWorkflow.run,
            TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
            id=f"{label}-{uuid.uuid4()}",
            task_queue=task_queue,
        )

        async def placed() -> bool:
            return fake_exchange.order_count() == orders_before + 1

        await eventually(placed, f"{label} placed its order")
        build = names[await pinned_build(client, handle.id)]
        timeline(f"{label} placed its order on build {build} (pinned); the order is unsettled")
        return handle

    async def settle(*trades: Trade) -> None:
        fake_exchange.hold_settlement(False)
        for handle in trades:
            order = await asyncio.wait_for(handle.result(), timeout=30)
            assert order.settled is True
            build = names[await pinned_build(client, handle.id)]
            timeline(f"{handle.id.split('-')[0]} settled, recorded and receipted on build {build}")
        fake_exchange.hold_settlement(True)

    fake_exchange.hold_settlement(True)
    try:
        # Build A, the first build of a new deployment, makes itself current.
        start_worker(["worker.py"], {})
        await eventually(lambda: routing_is(build_a), "build A current", within=30)
        timeline(f"build A ({build_a}) polling and current: the deployment's first build")
        trade1 = await place("trade1")

        # Build B polls beside it, but takes nothing until an operator promotes it.
        start_worker(["-m", "tests.e2e.build_b"], {"KRIPTO_BUILD_ID": BUILD_B})
        await eventually(lambda: routing_is(build_a, BUILD_B), "build B polling", within=30)
        timeline("build B polling; A still current")
        assert await kripto_cli_fails(cli_env, "deploy", "ramp", BUILD_B, "101") == (
            "error: PCT: must be a number from 0 to 100, not '101'"
        )
        assert await kripto_cli_fails(cli_env, "deploy", "promote", "C") == (
            f"error: BUILD: no build 'C' in deployment '{deployment}' (its builds: B, {build_a});"
            " a build appears once one of its workers has polled"
        )
        out = (await kripto_cli(cli_env, "deploy", "ramp", BUILD_B, "0")).strip()
        assert out == f"{BUILD_B} is ramping: 0% of new workflows start on it"
        ramping = (await deployment_status(client, deployment, task_queue)).ramping
        assert ramping is not None
        assert (ramping.build_id, ramping.ramp_percentage) == (BUILD_B, 0)
        timeline(f"kripto deploy ramp B 0: {out}")
        out = (await kripto_cli(cli_env, "deploy", "promote", BUILD_B)).strip()
        assert out == f"{BUILD_B} is current (was {build_a})"
        assert (await deployment_status(client, deployment, task_queue)).ramping is None
        timeline(f"kripto deploy promote B: {out}")

        trade2 = await place("trade2")
        await drainage_is(build_a, "draining")
        current, versions = await shown_status()
        assert current == BUILD_B
        assert (versions[build_a]["drainage"], versions[build_a]["runningTrades"]) == (
            "draining",
            1,
        )
        assert (versions[BUILD_B]["current"], versions[BUILD_B]["runningTrades"]) == (True, 1)
        timeline("kripto deploy status: A draining with 1 running trade; B current with 1")
        await settle(trade1, trade2)
        await drainage_is(build_a, "drained")
        current, versions = await shown_status()
        assert current == BUILD_B
        assert (versions[build_a]["drainage"], versions[build_a]["runningTrades"]) == (
            "drained",
            0,
        )
        timeline("kripto deploy status: A drained, B current")

        # And back: a trade pinned to B finishes on B; new trades start on A again.
        trade3 = await place("trade3")
        out = (await kripto_cli(cli_env, "deploy", "rollback")).strip()
        assert out == f"rolled back: {build_a} is current (was {BUILD_B})"
        timeline(f"kripto deploy rollback: {out}")
        trade4 = await place("trade4")
        await settle(trade3, trade4)
        await drainage_is(BUILD_B, "drained")
        current, versions = await shown_status()
        assert current == build_a
        assert (versions[BUILD_B]["drainage"], versions[BUILD_B]["runningTrades"]) == (
            "drained",
            0,
        )
        timeline("kripto deploy status: B drained, A current")

        # A rollback ends a ramp: ramp B, roll back (to B, current before A), no ramp is left.
        await kripto_cli(cli_env, "deploy", "ramp", BUILD_B, "10")
        out = (await kripto_cli(cli_env, "deploy", "rollback")).strip()
        assert out == f"rolled back: {BUILD_B} is current (was {build_a})"
        assert (await deployment_status(client, deployment, task_queue)).ramping is None
        timeline(f"kripto deploy ramp B 10, then rollback: {out}; no ramp left")

        # B's only worker stops: with nothing pinned to B it retires B, and A's worker, finding
        # the current build with no workers, takes over, so new work never waits for B.
        workers[1].terminate()
        assert workers[1].wait(timeout=30) == 0
        await eventually(lambda: routing_is(build_a), "A took over from B", within=20)
        timeline("B's worker stopped; A's worker made A current again")
        # Routing to a build with no workers is refused, unless forced.
        assert await kripto_cli_fails(cli_env, "deploy", "promote", BUILD_B) == (
            f"error: BUILD: no worker of build '{BUILD_B}' is polling task queue"
            f" '{task_queue}', so new workflows would wait for one; start its workers first,"
            " or pass --force"
        )
        assert await kripto_cli_fails(cli_env, "deploy", "rollback", BUILD_B) == (
            f"error: BUILD: no worker of build '{BUILD_B}' is polling task queue"
            f" '{task_queue}', so new workflows would wait for one; start its workers first,"
            " or pass --force"
        )
        assert await routing_is(build_a)
        out = (await kripto_cli(cli_env, "deploy", "promote", BUILD_B, "--force")).strip()
        assert out == f"{BUILD_B} is current (was {build_a})"
        # Forced onto a build with no workers, new work would wait: A's worker, seeing the
        # current build without pollers and with nothing pinned, takes over again by itself.
        await eventually(lambda: routing_is(build_a), "A took over from B again", within=20)
        timeline("promote B refused (no workers), then forced; A's worker took over again")
    finally:
        fake_exchange.hold_settlement(False)  # a failed run's trades end, so no worker drains
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        log.close()
        timeline.print()

    trades = [trade1.id, trade2.id, trade3.id, trade4.id]
    assert [names[await pinned_build(client, t)] for t in trades] == ["A", "B", "B", "A"]
    b_step = json.dumps(EXTRA_STEP).encode()
    assert [await extra_steps(client, t) for t in trades] == [[], [b_step], [b_step], []]
    # Each trade placed exactly one order, recorded one trade row and sent one receipt.
    orders = fake_exchange.state()["orders"]
    assert sorted(o["client_order_id"] for o in orders) == sorted(trades)
    rows = await db.pool.fetch("SELECT trade_id FROM trades")
    assert sorted(r["trade_id"] for r in rows) == sorted(trades)
    receipts = await db.pool.fetch("SELECT trade_id, status, attempts FROM receipts")
    assert sorted((r["trade_id"], r["status"], r["attempts"]) for r in receipts) == sorted(
        (t, "sent", 1) for t in trades
    )
    assert sorted(p.stem for p in (tmp_path / "outbox").glob("*.eml")) == sorted(trades)
