"""A worker killed with SIGKILL after the exchange accepted the order, and a new worker: still
one order, and the trade completes. Everything is a real process: the dev server, two workers
(`python worker.py`), and the fake Coinbase Advanced Trade server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.models import Side, TradeRequest
from tests.fakes.coinbase_fixtures import FakeCoinbaseProcess, start_fake_coinbase_process
from workflows.trade import TradeWorkflow

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_exchange(tmp_path: Path) -> Iterator[FakeCoinbaseProcess]:
    fake = start_fake_coinbase_process(tmp_path)
    yield fake
    fake.stop()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
async def test_sigkill_mid_order_then_restart_places_one_order(
    dev_server_env: WorkflowEnvironment,
    fake_exchange: FakeCoinbaseProcess,
    database_url: str,
    db: Database,
    task_queue: str,
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "coinbase.pem"
    key_file.write_text(fake_exchange.private_key_pem)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "KRIPTO_DATABASE_URL": database_url,
        "KRIPTO_TASK_QUEUE": task_queue,
        "KRIPTO_DEPLOYMENT_NAME": task_queue,
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
    # The exchange creates the order, then holds its reply: the worker dies waiting for it.
    fake_exchange.inject({"kind": "hang", "seconds": 60, "method": "POST", "path": "/orders"})
    log = tmp_path / "workers.log"
    first = start_worker(env, log)
    key = str(uuid.uuid4())
    handle = await dev_server_env.client.start_workflow(
        TradeWorkflow.run,
        TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
        id=key,
        task_queue=task_queue,
    )
    second: subprocess.Popen[bytes] | None = None
    try:
        async with asyncio.timeout(60):
            while fake_exchange.order_count() == 0:
                await asyncio.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = start_worker(env, log)
        order = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=20)

    assert fake_exchange.order_count() == 1
    [placed] = fake_exchange.state()["orders"]
    assert placed["client_order_id"] == key
    assert order.client_order_id == key
    assert order.id == placed["order_id"]
    assert order.settled is True
    assert await db.pool.fetchval("SELECT count(*) FROM trades WHERE trade_id = $1", key) == 1
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    receipt = await db.pool.fetchrow(
        "SELECT status, attempts FROM receipts WHERE trade_id = $1", key
    )
    assert (receipt["status"], receipt["attempts"]) == ("sent", 1)
