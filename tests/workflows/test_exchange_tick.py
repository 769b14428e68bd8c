"""The exchange tick on the time-skipping server: one fetch for every market, one insert, one
decision activity, and a TradeWorkflow per buy, named after its decision as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.feeds import SimulatedFeed
from kripto.ids import decide_id, stamp, trade_id_for_decision
from kripto.models import (
    DecideMarketsInput,
    DecideMarketsResult,
    ExchangeTickInput,
    Order,
    Prices,
    Rate,
)
from kripto.runtime.worker import build_services, build_worker
from kripto.settings import Settings
from kripto.temporal.search_attributes import MARKETS
from tests.temporal_fixtures import history_bytes, record_history
from workflows.exchange_tick import ExchangeTickWorkflow

PRODUCTS = ["BTC-GBP", "ETH-GBP"]


@pytest.fixture
async def client(
    time_skipping_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[tuple[Client, Settings]]:
    fast = settings.model_copy(
        update={
            "products": PRODUCTS,
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


async def test_one_tick_prices_stores_and_decides_every_market_and_buys_once(
    time_skipping_env: WorkflowEnvironment, client: tuple[Client, Settings], db: Database
) -> None:
    temporal, settings = client
    # The simulated feed quotes about 53k-67k: after ten flat minutes at 40k, BTC-GBP crosses
    # up; ETH-GBP has no history, so it holds.
    now = (await time_skipping_env.get_current_time()).replace(second=0, microsecond=0)
    rates = RateRepository(db)
    for i in range(10, 0, -1):
        at = now - timedelta(minutes=i)
        await rates.insert(Rate(rate=Decimal("40000.00"), date_time=at, source="simulated"))
    tick_id = f"tick-coinbase-{stamp(now)}"
    result = await temporal.execute_workflow(
        ExchangeTickWorkflow.run,
        ExchangeTickInput(products=PRODUCTS),
        id=tick_id,
        task_queue=settings.temporal.task_queue,
    )
    at = result.at
    assert (result.markets, result.stored) == (2, 2)
    assert result.actions == {"BTC-GBP": "buy", "ETH-GBP": "hold"}
    feed = SimulatedFeed(seed=settings.exchange.feed_seed)
    for product in PRODUCTS:
        [stored] = await rates.since(product, at)
        assert (stored.rate, stored.source) == (feed.price_at(product, at), "simulated")
    trade_id = trade_id_for_decision(decide_id("BTC-GBP", at))
    assert trade_id == f"trade-BTC-GBP-{stamp(at)}"
    order = await temporal.get_workflow_handle(trade_id, result_type=Order).result()
    assert (order.client_order_id, order.side.value) == (trade_id, "buy")
    described = await temporal.get_workflow_handle(tick_id).describe()
    assert described.typed_search_attributes.get(MARKETS) == [
        "buy",
        "hold",
        "BTC-GBP:buy",
        "BTC-GBP",
        "ETH-GBP",
    ]

    # The decision child again (a retry or a replay of the tick): the same decisions, and no
    # second trade.
    decide_child = f"decide-coinbase-{stamp(at)}"
    again = await temporal.execute_workflow(
        "DecideMarketsWorkflow",
        DecideMarketsInput(
            prices=Prices(
                at=at, source="simulated", prices={"BTC-GBP": feed.price_at("BTC-GBP", at)}
            )
        ),
        id=f"{decide_child}-again",
        task_queue=settings.temporal.task_queue,
        result_type=DecideMarketsResult,
    )
    assert again.actions == {"BTC-GBP": "buy"}
    orders = await db.pool.fetchval("SELECT count(*) FROM paper_orders")
    assert orders == 1

    sizes = {
        w: await history_bytes(temporal, w)
        for w in (tick_id, f"store-rates-coinbase-{stamp(at)}", decide_child)
    }
    assert sum(sizes.values()) < 12_000, sizes
    await record_history(temporal, tick_id, "exchange_tick-v1")
    await record_history(temporal, f"store-rates-coinbase-{stamp(at)}", "store_rates-v1")
    await record_history(temporal, decide_child, "decide_markets-v1")
