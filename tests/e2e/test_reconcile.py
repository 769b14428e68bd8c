"""The reconciler on the dev server: its schedule, its run at worker start, and `kripto
reconcile` as a person runs it after an order was placed behind Kripto's back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.exchanges.paper import PaperExchange
from kripto.ids import reconcile_at_start_id, reconcile_schedule_id
from kripto.models import Side
from kripto.runtime.schedules import ensure_all_schedules
from kripto.runtime.worker import build_services, reconcile_at_start, running_worker
from kripto.settings import Settings
from tests.trading_fixtures import store_rate

pytestmark = pytest.mark.e2e


@pytest.fixture
async def worker_env(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database
) -> AsyncIterator[dict[str, str]]:
    """A running worker with the paper exchange, and the environment a CLI needs to reach it."""
    await store_rate(db)
    services = await build_services(settings)
    async with running_worker(dev_server_env.client, settings, services):
        yield {
            **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
            "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
            "KRIPTO_DATABASE_URL": settings.general.require_database_url(),
            "KRIPTO_TASK_QUEUE": settings.temporal.task_queue,
            "COLUMNS": "160",
        }
    await services.close()


async def check_the_reconcile_schedule(client: Client, settings: Settings) -> None:
    """`kripto schedule create` (and starter.py) make the reconciler's schedule with the
    exchange's tick schedule: every ten minutes, skipping a run while one is still going."""
    settings = settings.model_copy(update={"products": ["XRP-GBP"], "task_queue": "kripto-idle"})
    handle = client.get_schedule_handle(reconcile_schedule_id("kripto-idle"))
    try:
        assert await ensure_all_schedules(client, settings) == {
            "kripto-ticks-coinbase-kripto-idle": "created",
            "kripto-reconcile-kripto-idle": "created",
        }
        assert await ensure_all_schedules(client, settings) == {
            "kripto-ticks-coinbase-kripto-idle": "unchanged",
            "kripto-reconcile-kripto-idle": "unchanged",
        }
        schedule = (await handle.describe()).schedule
        assert [i.every for i in schedule.spec.intervals] == [timedelta(minutes=10)]
        assert schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
        assert isinstance(schedule.action, ScheduleActionStartWorkflow)
        assert schedule.action.workflow == "ReconcileWorkflow"
        hourly = settings.model_copy(update={"reconcile_every": timedelta(hours=1)})
        assert (await ensure_all_schedules(client, hourly))[
            "kripto-reconcile-kripto-idle"
        ] == "updated"
        schedule = (await handle.describe()).schedule
        assert [i.every for i in schedule.spec.intervals] == [timedelta(hours=1)]
    finally:
        await handle.delete()
        await client.get_schedule_handle("kripto-ticks-coinbase-kripto-idle").delete()


async def kripto(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kripto",
        *args,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_kripto_reconcile_records_an_order_placed_behind_kriptos_back(
    worker_env: dict[str, str],
    dev_server_env: WorkflowEnvironment,
    settings: Settings,
    db: Database,
    tmp_path: Path,
) -> None:
    await check_the_reconcile_schedule(dev_server_env.client, settings)
    # The worker's own run at start-up: once per minute's ID, however many workers start.
    await reconcile_at_start(dev_server_env.client, settings)
    await reconcile_at_start(dev_server_env.client, settings)  # already started: nothing new
    # (A worker starting a minute later may run one of its own.)
    started = [
        w
        async for w in dev_server_env.client.list_workflows(
            f"WorkflowType = 'ReconcileWorkflow' AND TaskQueue = '{settings.temporal.task_queue}'"
        )
    ]
    assert len(started) == 1 and started[0].id.startswith("reconcile-at-start-")
    assert (
        started[0].id[: len("reconcile-at-start-2026-")]
        == reconcile_at_start_id(started[0].start_time, settings.temporal.task_queue)[
            : len("reconcile-at-start-2026-")
        ]
    )
    await dev_server_env.client.get_workflow_handle(started[0].id).result()

    key = f"by-hand-{uuid.uuid4().hex[:8]}"  # a key Kripto never claimed
    exchange = PaperExchange(db, fee_rate=Decimal("0.005"), initial_gbp=Decimal("1000.00"))
    await exchange.place_market_order(
        client_order_id=key, product_id="BTC-GBP", side=Side.BUY, amount=Decimal("10.00")
    )

    code, out, err = await kripto(["reconcile"], worker_env, tmp_path)
    print(out)  # quoted in the closing note
    assert code == 1, err
    assert "1 difference" in out and "differences" not in out
    assert "missing from books" in out and key in out
    assert "was not on the books: recorded now" in out
    assert "recorded 1 order(s) found on the exchange; sent 1 receipt(s)" in out
    assert "books match" not in out

    code, out, err = await kripto(
        ["reconcile", "--json", "--since", "2026-01-01"], worker_env, tmp_path
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["booksMatch"] is True and report["differences"] == []
    assert report["since"] == "2026-01-01T00:00:00Z"
    assert report["ordersOnExchange"] == report["tradesOnBooks"] == 1
    assert {b["currency"]: b["books"] == b["exchange"] for b in report["balances"]} == {
        "BTC": True,
        "GBP": True,
    }
    found = await db.pool.fetch("SELECT trade_id, found_by FROM trades")
    assert [(r["trade_id"], r["found_by"]) for r in found] == [(key, "reconciler")]
    receipts = await db.pool.fetch("SELECT trade_id, status, attempts FROM receipts")
    assert [(r["trade_id"], r["status"], r["attempts"]) for r in receipts] == [(key, "sent", 1)]
