"""The books' ways out, as a person takes them with a real worker on the dev server, the fake
Coinbase server as its own process and the `kripto` commands as processes of their own: an
abandoned trade (`kripto trade abandon`) completed by the reconciler; an order the exchange
ended unfilled after its row was written, closed by the reconciler; a deposit answered by
`kripto reconcile --rebase`. Whatever happened, the last `kripto reconcile` exits 0.
The transcript is printed (and written to the test's folder: transcript.txt)."""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.trades import TradeRepository
from kripto.errors import OrderUnfilled
from kripto.exchanges.coinbase import CoinbaseExchange
from kripto.models import Side, TradeRequest
from kripto.runtime.worker import run_worker
from kripto.settings import Settings
from tests.fakes.coinbase_fixtures import FakeCoinbaseProcess, start_fake_coinbase_process
from workflows.trade import TradeWorkflow

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_exchange(tmp_path: Path) -> Iterator[FakeCoinbaseProcess]:
    fake = start_fake_coinbase_process(tmp_path)
    yield fake
    fake.stop()


@pytest.mark.slow
async def test_an_abandoned_trade_an_order_ended_unfilled_and_a_deposit_end_in_books_that_match(
    dev_server_env: WorkflowEnvironment,
    fake_exchange: FakeCoinbaseProcess,
    settings: Settings,
    database_url: str,
    db: Database,
    task_queue: str,
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "coinbase.pem"
    key_file.write_text(fake_exchange.private_key_pem)
    settings = settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_exchange.url,
            "coinbase_api_key_name": fake_exchange.key_name,
            "coinbase_api_private_key_file": key_file,
            "metrics_port": 0,
            "health_port": 0,
        }
    )
    client = dev_server_env.client
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KRIPTO_TASK_QUEUE": task_queue,
        "KRIPTO_DEPLOYMENT_NAME": task_queue,
        "KRIPTO_DATABASE_URL": database_url,
        "KRIPTO_DATA_DIR": str(tmp_path),
        "COLUMNS": "160",
    }
    transcript: list[str] = []

    async def kripto(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kripto",
            *args,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=90)
        code = process.returncode or 0
        transcript.extend([f"$ kripto {' '.join(args)}", out.decode().rstrip(), f"(exit {code})"])
        return code, out.decode()

    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(client, settings, stop))
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    try:
        # The worker compares the exchange with the books as it starts: the baseline.
        code, out = await kripto("reconcile")
        assert code == 0, out

        # 1. A trade whose settlement never comes (an order the exchange holds open), abandoned.
        fake_exchange.hold_settlement(True)
        stuck = f"stuck-{uuid.uuid4()}"
        handle = await client.start_workflow(
            TradeWorkflow.run,
            TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
            id=stuck,
            task_queue=task_queue,
        )
        async with asyncio.timeout(30):
            while fake_exchange.order_count() == 0:
                await asyncio.sleep(0.2)
        code, out = await kripto("trade", "abandon", stuck, "--reason", "settlement stuck")
        assert code == 0, out
        assert out.splitlines()[0] == (
            f"trade {stuck} abandoned: its workflow is terminated (settlement stuck; {who})"
        )
        assert "its row is unsettled (order " in out and "left to the reconciler" in out
        assert (await handle.describe()).status is not None
        code, out = await kripto("trade", "status", stuck)
        assert "status: terminated" in out
        code, out = await kripto("trade", "abandon", stuck, "--reason", "again")
        assert code == 2
        assert f"KEY: trade {stuck} is terminated, not running: there is nothing to abandon" in out
        # The exchange ends the order (it fills); nothing of Kripto's is left to record it.
        fake_exchange.hold_settlement(False)

        # 2. An order ended unfilled after its row was written (its trade never saw it end).
        ended = f"ended-{uuid.uuid4()}"
        request = TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00"))
        assert await TradeRepository(db).claim(ended, request) is None
        fake_exchange.inject("no_fill")
        exchange = CoinbaseExchange(
            base_url=fake_exchange.url,
            key_name=fake_exchange.key_name,
            private_key_pem=fake_exchange.private_key_pem,
        )
        try:
            with pytest.raises(OrderUnfilled):
                await exchange.place_market_order(
                    client_order_id=ended,
                    product_id="BTC-GBP",
                    side=Side.BUY,
                    amount=Decimal("10.00"),
                )
        finally:
            await exchange.close()
        await db.pool.execute(
            "UPDATE trades SET created_at = now() - interval '1 hour' WHERE trade_id = ANY($1)",
            [stuck, ended],
        )

        code, out = await kripto("reconcile")
        assert code == 0, out
        assert "books match" in out
        assert (
            f"completed {stuck} from its order, settled on the exchange (abandoned: settlement"
            f" stuck ({who}))"
        ) in out.replace("\n", " ")
        assert f"closed {ended} as unfilled: Coinbase: order" in out

        # A person's trades: the first goes past no guard (the other BTC-GBP trade was an hour
        # ago), the second, right after it, goes past the cooldown: not held to it, but told.
        mine, again = f"mine-{uuid.uuid4()}", f"again-{uuid.uuid4()}"
        code, out = await kripto("trade", "buy", "10.00", "--key", mine)
        assert code == 0 and "note:" not in out, out
        code, out = await kripto("trade", "buy", "10.00", "--key", again)
        assert code == 0, out
        said = " ".join(out.split())
        assert "note: this trade goes past the cooldown (last BTC-GBP trade 0 min ago;" in said
        assert "a person's trade is not held to the cooldown (the automatic trades are" in said

        # 3. A deposit: a balance difference, answered by a rebase.
        balances = fake_exchange.state()["balances"]
        deposited = Decimal(balances["GBP"]["available"]) + Decimal("500.00")
        httpx.post(
            f"{fake_exchange.url}/_config",
            json={"balances": {"GBP": str(deposited)}},
            timeout=5,
        ).raise_for_status()
        code, out = await kripto("reconcile")
        assert code == 1 and "balance" in out and "+500.00" in out, out
        code, out = await kripto("reconcile", "--rebase")
        assert code == 2 and "--reason: --rebase needs a reason" in out
        code, out = await kripto("reconcile", "--rebase", "--reason", "deposited £500")
        assert code == 0 and "books match" in out, out
        assert f"-> {deposited} (deposited £500; {who})" in out
        code, out = await kripto("reconcile")
        assert code == 0 and "books match" in out, out
    finally:
        fake_exchange.hold_settlement(False)
        stop.set()
        await worker
        print(*transcript, sep="\n")
        (tmp_path / "transcript.txt").write_text("\n".join(transcript) + "\n")

    rows = await db.pool.fetch("SELECT trade_id, settled, found_by FROM trades")
    assert sorted((r["trade_id"], r["settled"], r["found_by"]) for r in rows) == sorted(
        [(stuck, True, "trade"), (mine, True, "trade"), (again, True, "trade")]
    )
    receipts = await db.pool.fetch("SELECT trade_id, status, attempts FROM receipts")
    assert sorted((r["trade_id"], r["status"], r["attempts"]) for r in receipts) == sorted(
        [(stuck, "sent", 1), (mine, "sent", 1), (again, "sent", 1)]
    )
    assert [o["client_order_id"] for o in fake_exchange.state()["orders"]] == [
        stuck,
        ended,
        mine,
        again,
    ]


async def test_the_dev_server_the_tests_run_on_is_the_server_compose_pins(
    dev_server_env: WorkflowEnvironment,
) -> None:
    """The server itself says its version (GetSystemInfo), beside `temporal --version`
    (tests/unit/test_deploy_files.py): docker-compose.yml's Temporal images are that version."""
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    info = await dev_server_env.client.workflow_service.get_system_info(GetSystemInfoRequest())
    compose = (REPO / "docker-compose.yml").read_text()
    tags = set(re.findall(r"image: temporalio/(?:server|admin-tools):(\S+)", compose))
    assert tags == {info.server_version}
