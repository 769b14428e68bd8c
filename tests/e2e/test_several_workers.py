"""Three `kripto worker` processes on one task queue share a burst of trades and ticks; midway one
is killed (SIGKILL) and another stopped (SIGTERM), and the last one carries the rest.

Real parts throughout: the Temporal dev server, Postgres, three worker processes with the paper
exchange and the simulated feed. Every trade happens exactly once (orders, trade rows, receipts,
balances to the penny), every tick stores the rate for its own minute exactly once, nothing is
left running, and the stopped worker exits 0. The figures are printed for the record (`-s`).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.feeds import SimulatedFeed
from kripto.fills import market_fill
from kripto.ids import exchange_tick_id, stamp
from kripto.models import ExchangeTickInput, ExchangeTickResult, Order, Rate, Side, TradeRequest
from tests.e2e.workers import (
    ActivityRun,
    WorkerProcess,
    activity_runs,
    start_worker,
    wait_polling,
    worker_env,
)
from workflows.exchange_tick import SCHEDULED_START, ExchangeTickWorkflow
from workflows.trade import TradeWorkflow

pytestmark = pytest.mark.e2e

PRODUCT = "BTC-GBP"
PRICE = Decimal("61234.56")  # the rate every paper order fills at
FEE_RATE = Decimal("0.005")
INITIAL_GBP = Decimal("1000.00")
TRADES = 30
STARTED_TWICE = 8  # the first keys are started a second time while the burst runs
TICKS = 20
KILL_AFTER = 10  # trades recorded before one worker is killed and another stopped


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def amount(i: int) -> Decimal:
    """£10.01 to £19.xx: distinct amounts, £435.15 in all, inside the £1000 wallet."""
    return Decimal(10 + i % 10) + Decimal(i + 1) / 100


async def start_trade(client: Client, key: str, request: TradeRequest, task_queue: str) -> str:
    try:
        await client.start_workflow(TradeWorkflow.run, request, id=key, task_queue=task_queue)
    except WorkflowAlreadyStartedError:
        return "already running"
    return "started"


async def start_tick(client: Client, at: datetime, task_queue: str) -> None:
    """A tick as the schedule starts one: its ID and TemporalScheduledStartTime name its minute."""
    await client.start_workflow(
        ExchangeTickWorkflow.run,
        ExchangeTickInput(products=[PRODUCT]),
        id=f"{exchange_tick_id('coinbase')}-{task_queue}-{stamp(at)}",
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(SCHEDULED_START, at)]),
    )


async def running(client: Client, task_queue: str) -> int:
    query = f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
    return len([w async for w in client.list_workflows(query)])


@pytest.mark.slow
async def test_three_workers_share_trades_and_ticks_through_a_kill_and_a_sigterm(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    db: Database,
    task_queue: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    client = dev_server_env.client
    # Ticks for the next 20 minutes, each started now as if by its schedule (a tick that starts
    # over a minute after its slot is late by design, and fails); the simulated feed gives any
    # minute its own price, so each stores a rate. The rate stored for a day ahead is the newest,
    # so every paper order fills at PRICE.
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)
    minutes = [now - timedelta(days=1) + timedelta(minutes=1 + i) for i in range(TICKS)]
    await RateRepository(db).insert(
        Rate(product_id=PRODUCT, rate=PRICE, date_time=now, source="simulated")
    )
    env = worker_env(
        client.service_client.config.target_host,
        KRIPTO_DATABASE_URL=database_url,
        KRIPTO_TASK_QUEUE=task_queue,
        KRIPTO_EXCHANGE="paper",
        KRIPTO_FEED="simulated",
        KRIPTO_PAPER_PRICE="stored",
        KRIPTO_PAPER_SPREAD="0",
        KRIPTO_PAPER_GBP=str(INITIAL_GBP),
        KRIPTO_FEE_RATE=str(FEE_RATE),
        KRIPTO_DATA_DIR=str(tmp_path),
        # The burst spends more than the default £250.00 a day that every buy is held to.
        KRIPTO_DAILY_SPEND_LIMIT_GBP=str(INITIAL_GBP),
    )
    workers.extend(start_worker(name, env, tmp_path) for name in ("killed", "stopped", "last"))
    killed, stopped, last = workers
    await wait_polling(workers)

    requests = {
        f"burst-{i:02d}-{uuid.uuid4().hex[:8]}": TradeRequest(
            trade_type=Side.BUY, amount=amount(i), product_id=PRODUCT
        )
        for i in range(TRADES)
    }
    keys = list(requests)
    began = time.monotonic()
    starts = await asyncio.gather(
        *(start_trade(client, key, requests[key], task_queue) for key in keys),
        *(start_tick(client, at, task_queue) for at in minutes),
        *(start_trade(client, key, requests[key], task_queue) for key in keys[:STARTED_TWICE]),
    )
    # Whichever of a key's two starts reached the server second found it running.
    twice = Counter(
        (first, second)
        for first, second in zip(starts[:STARTED_TWICE], starts[TRADES + TICKS :], strict=True)
    )

    # Midway: a third of the trades are recorded. Kill one worker, stop another. (Generous
    # deadlines: `make test` runs this beside other files, on two cores.)
    async with asyncio.timeout(90):
        while await db.pool.fetchval("SELECT count(*) FROM trades") < KILL_AFTER:
            await asyncio.sleep(0.1)
    killed.signal(signal.SIGKILL)
    stopped.signal(signal.SIGTERM)
    midway = time.monotonic()
    recorded_at_kill = await db.pool.fetchval("SELECT count(*) FROM trades")

    async with asyncio.timeout(180):
        orders: dict[str, Order] = dict(
            zip(
                keys,
                await asyncio.gather(
                    *(
                        client.get_workflow_handle_for(TradeWorkflow.run, key).result()
                        for key in keys
                    )
                ),
                strict=True,
            )
        )
        ticks: list[ExchangeTickResult] = await asyncio.gather(
            *(
                client.get_workflow_handle_for(
                    ExchangeTickWorkflow.run,
                    f"{exchange_tick_id('coinbase')}-{task_queue}-{stamp(at)}",
                ).result()
                for at in minutes
            )
        )
        while await running(client, task_queue):  # children included: nothing is left
            await asyncio.sleep(0.2)
    drained = time.monotonic()
    stopped_code = await stopped.exit_code(within=40)
    killed_code = await killed.exit_code(within=5)

    # Started again after it finished (the plain CLI's default): the first order comes back.
    rerun: list[WorkflowHandle[TradeWorkflow, Order]] = [
        await client.start_workflow(
            TradeWorkflow.run,
            requests[key],
            id=key,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        for key in keys[:STARTED_TWICE]
    ]
    async with asyncio.timeout(30):
        again = [await handle.result() for handle in rerun]

    # Which worker ran what, from the histories (the identity of each activity's last attempt).
    workflow_ids = [w.id async for w in client.list_workflows(f"TaskQueue = '{task_queue}'")]
    runs: list[ActivityRun] = []
    for workflow_id in set(workflow_ids):
        runs += await activity_runs(client, workflow_id)
    names = {w.identity: w.name for w in workers}
    by_worker = Counter(names.get(r.identity, r.identity) for r in runs)
    retried = Counter(f"{r.activity} after {r.last_failure}" for r in runs if r.last_failure)

    print(
        f"\nseveral workers: {TRADES} trades ({STARTED_TWICE} started twice during the burst,"
        f" (first start, second start): {dict(twice)}; {STARTED_TWICE} re-run after they"
        f" finished), {TICKS} ticks;"
        f" {recorded_at_kill} trades recorded when 'killed' got SIGKILL and 'stopped' SIGTERM;"
        f" drained {drained - began:.1f}s after the burst began, {drained - midway:.1f}s after"
        f" the kill; activities by worker {dict(by_worker)};"
        f" retried attempts {dict(retried)}"
    )

    # The stopped worker exited 0 after its grace; the killed one died of SIGKILL.
    assert stopped_code == 0, stopped.output()
    assert "worker stopped after" in stopped.output()
    assert killed_code == -signal.SIGKILL
    assert last.process.poll() is None

    # Every trade happened exactly once: on the exchange, in the books, in the receipts.
    rows = await db.pool.fetch(
        "SELECT client_order_id, order_id::text AS order_id, side, funds, filled_size,"
        " executed_value, fill_fees, price FROM paper_orders"
    )
    assert sorted(r["client_order_id"] for r in rows) == sorted(keys)
    by_key = {r["client_order_id"]: r for r in rows}
    for key in keys:
        assert orders[key].id == by_key[key]["order_id"]
        assert orders[key].client_order_id == key
    assert [o.id for o in again] == [orders[key].id for key in keys[:STARTED_TWICE]]
    trades = await db.pool.fetch("SELECT trade_id, exchange_order_id FROM trades")
    assert sorted(t["trade_id"] for t in trades) == sorted(keys)
    assert {t["trade_id"]: t["exchange_order_id"] for t in trades} == {
        k: orders[k].id for k in keys
    }
    receipts = await db.pool.fetch("SELECT trade_id, status FROM receipts")
    assert sorted(r["trade_id"] for r in receipts) == sorted(keys)
    assert {r["status"] for r in receipts} == {"sent"}

    # Balances are the fills, to the penny and the satoshi.
    fills = {key: market_fill(Side.BUY, requests[key].amount, PRICE, FEE_RATE) for key in keys}
    for key, fill in fills.items():
        row = by_key[key]
        assert (row["price"], row["funds"], row["filled_size"]) == (
            PRICE,
            fill.funds,
            fill.filled_size,
        )
        assert (row["executed_value"], row["fill_fees"]) == (fill.executed_value, fill.fill_fees)
    balances = {
        r["currency"]: r["balance"]
        for r in await db.pool.fetch("SELECT currency, balance FROM paper_accounts")
    }
    assert balances["GBP"] == INITIAL_GBP + sum(f.gbp_change for f in fills.values())
    assert balances["BTC"] == sum(f.btc_change for f in fills.values())

    # Every tick stored the rate for its own minute, once; no decision traded.
    stored = await RateRepository(db).since(PRODUCT, minutes[0] - timedelta(minutes=1), now)
    feed = SimulatedFeed()
    assert [(r.date_time, r.rate) for r in stored] == [
        *((at, feed.price_at(PRODUCT, at)) for at in minutes),
        (now, PRICE),
    ]
    assert await db.pool.fetchval("SELECT count(*) FROM rates") == TICKS + 1
    assert [(t.at, t.stored) for t in ticks] == [(at, 1) for at in minutes]
    assert {a for t in ticks for a in t.actions.values()} <= {"hold"}

    # The three workers ran every activity; the last one carried on after the other two went.
    assert set(by_worker) <= {"killed", "stopped", "last"}
    assert by_worker["last"] > 0
