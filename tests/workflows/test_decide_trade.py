"""A tick's decision on the time-skipping server: recorded with its reason, trading only through
the guards, and never twice for one tick."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.decisions import DecisionRepository
from kripto.db.rates import RateRepository
from kripto.ids import decide_id, trade_id_for_decision
from kripto.models import DecideInput, Order, Rate, RateTickInput
from kripto.settings import Settings
from kripto.temporal.worker import build_services, build_worker
from tests.temporal_fixtures import history_bytes, record_history
from workflows.decide_trade import DecideTradeWorkflow
from workflows.rate_tick import RateTickWorkflow


@pytest.fixture
async def client(
    time_skipping_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[tuple[Client, Settings]]:
    fast = settings.model_copy(
        update={
            "strategy": "ema_cross",
            "ema_short_minutes": 2,
            "ema_long_minutes": 5,
            "cooldown": timedelta(0),
        }
    )
    services = await build_services(fast)
    async with build_worker(time_skipping_env.client, fast, services):
        yield time_skipping_env.client, fast
    await services.close()


async def flat_history(env: WorkflowEnvironment, db: Database, price: str, minutes: int) -> None:
    """`minutes` of one price, ending a minute before the server's clock."""
    now = (await env.get_current_time()).replace(second=0, microsecond=0)
    for i in range(minutes):
        at = now - timedelta(minutes=minutes - i)
        await RateRepository(db).insert(Rate(rate=Decimal(price), date_time=at, source="simulated"))


async def test_a_tick_whose_rate_jumps_buys_once_through_the_guards(
    time_skipping_env: WorkflowEnvironment, client: tuple[Client, Settings], db: Database
) -> None:
    temporal, settings = client
    # The simulated feed quotes about 53k-67k: after a flat 40k week, the tick's rate crosses up.
    await flat_history(time_skipping_env, db, "40000.00", 10)
    tick = await temporal.execute_workflow(
        RateTickWorkflow.run,
        RateTickInput(),
        id=f"rate-tick-BTC-GBP-{uuid.uuid4()}",
        task_queue=settings.task_queue,
    )
    assert tick.action == "buy"
    assert tick.reason == f"buy: ema_cross signal at {tick.rate.rate}; buy £150.00"

    decision_id = decide_id("BTC-GBP", tick.rate.date_time)
    recorded = await DecisionRepository(db).get(decision_id)
    assert recorded is not None and recorded.amount == Decimal("150.00")
    trade_id = trade_id_for_decision(decision_id)
    order: Order = await temporal.get_workflow_handle(trade_id, result_type=Order).result()
    assert order.client_order_id == trade_id
    assert order.side.value == "buy"
    assert order.funds == (Decimal("150.00") / Decimal("1.005")).quantize(
        Decimal("1E-8"), "ROUND_DOWN"
    )

    # The same tick's decision again (a retry or a replay): it returns what was decided and
    # starts no second trade.
    again = await temporal.execute_workflow(
        DecideTradeWorkflow.run,
        DecideInput(rate=tick.rate),
        id=decision_id,
        task_queue=settings.task_queue,
    )
    assert (again.action, again.reason) == (recorded.action, recorded.reason)
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 1
    assert await db.pool.fetchval("SELECT count(*) FROM decisions") == 1


async def test_a_tick_with_too_little_history_holds_and_records_why(
    client: tuple[Client, Settings], db: Database
) -> None:
    temporal, settings = client
    tick = await temporal.execute_workflow(
        RateTickWorkflow.run,
        RateTickInput(),
        id=f"rate-tick-BTC-GBP-{uuid.uuid4()}",
        task_queue=settings.task_queue,
    )
    assert tick.action == "hold"
    assert tick.reason == "hold: 1 of 10 points needed for the long EMA"
    [decision] = await DecisionRepository(db).recent(5)
    assert decision.reason == tick.reason
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 0


async def test_a_tick_writes_under_10kb_to_history_and_its_trade_under_5kb(
    time_skipping_env: WorkflowEnvironment, client: tuple[Client, Settings], db: Database
) -> None:
    """A tick's workflows (the tick, its store and decide children) stay under 10 KB of
    history even when the decision trades; the trade it starts, a workflow of its own, stays
    under 5 KB. Rates never travel through payloads. (Sizes on this server; the dev server's
    own bookkeeping adds about a third, see tests/e2e/test_schedule.py.)"""
    temporal, settings = client
    await flat_history(time_skipping_env, db, "40000.00", 10)
    tick_id = f"rate-tick-BTC-GBP-{uuid.uuid4()}"
    tick = await temporal.execute_workflow(
        RateTickWorkflow.run, RateTickInput(), id=tick_id, task_queue=settings.task_queue
    )
    assert tick.action == "buy"
    decision_id = decide_id("BTC-GBP", tick.rate.date_time)
    trade_id = trade_id_for_decision(decision_id)
    await temporal.get_workflow_handle(trade_id).result()
    store_id = f"store-rate-BTC-GBP-{tick.rate.date_time:%Y-%m-%dT%H:%M:%SZ}"
    sizes = {w: await history_bytes(temporal, w) for w in (tick_id, store_id, decision_id)}
    assert sum(sizes.values()) < 10_000, sizes
    assert await history_bytes(temporal, trade_id) < 5_000
    await record_history(temporal, decision_id, "decide_trade-v2")
    await record_history(temporal, trade_id, "trade-v2")
