"""The protections in live decisions, on the dev server: a worker with the paper exchange runs
DecideMarketsWorkflow as a tick would. A position bought at 100,000 meets a tick at 60,000: the
stop-loss sells it all; the stop-loss guard then holds DCA's next buy; the drawdown guard holds
buys once the account is far below its peak, until someone resumes. A position bought at 50,000
that rose to 100,000 meets a tick at 60,000: the trailing stop sells it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.decisions import DecisionRepository
from kripto.db.protections import ProtectionRepository
from kripto.db.rates import RateRepository
from kripto.ids import decide_id, decide_markets_id, trade_id_for_decision
from kripto.models import (
    DecideMarketsInput,
    DecideMarketsResult,
    Decision,
    Order,
    Prices,
    Rate,
    Side,
    TradeRequest,
)
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from workflows.decide_markets import DecideMarketsWorkflow
from workflows.trade import TradeWorkflow

pytestmark = pytest.mark.e2e


@pytest.fixture
async def live(
    dev_server_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[tuple[Client, Settings]]:
    protected = settings.model_copy(
        update={
            "strategy": "dca",
            "strategy_params": {"every": "1h", "amount": "20"},
            "stop_loss": Decimal("0.1"),
            "trailing_stop": Decimal("0.15"),
            "max_drawdown": Decimal("0.25"),
            "stop_loss_limit": 1,
        }
    )
    services = await build_services(protected)
    async with running_worker(dev_server_env.client, protected, services):
        yield dev_server_env.client, protected
    await services.close()


async def decide_at(
    client: Client, settings: Settings, db: Database, price: str, at: datetime
) -> Decision:
    rate = Rate(rate=Decimal(price), date_time=at, source="simulated")
    await RateRepository(db).insert(rate)  # the paper exchange fills at the stored rate
    result: DecideMarketsResult = await client.execute_workflow(
        DecideMarketsWorkflow.run,
        DecideMarketsInput(prices=Prices.of([rate], at, "simulated")),
        id=decide_markets_id("coinbase", at),
        task_queue=settings.temporal.task_queue,
    )
    recorded = await DecisionRepository(db).get(decide_id("BTC-GBP", at))
    assert recorded is not None and recorded.action == result.actions["BTC-GBP"]
    if recorded.action != "hold":  # its trade settles before the next decision
        trade = trade_id_for_decision(recorded.decision_id)
        await client.get_workflow_handle(trade, result_type=Order).result()
    return recorded


async def buy(client: Client, settings: Settings) -> Order:
    order: Order = await client.execute_workflow(
        TradeWorkflow.run,
        TradeRequest(trade_type=Side.BUY, amount=Decimal("100.00")),
        id=f"protections-buy-{uuid.uuid4()}",
        task_queue=settings.temporal.task_queue,
    )
    return order


async def test_stop_loss_then_the_stop_loss_and_drawdown_guards_in_live_decisions(
    live: tuple[Client, Settings], db: Database
) -> None:
    client, settings = live
    now = datetime.now(UTC).replace(microsecond=0)
    await RateRepository(db).insert(
        Rate(rate=Decimal("100000.00"), date_time=now - timedelta(seconds=50), source="simulated")
    )
    bought = await buy(client, settings)
    assert bought.settled and bought.filled_size > 0

    stop = await decide_at(client, settings, db, "60000.00", now - timedelta(seconds=40))
    entry = (bought.executed_value + bought.fill_fees) / bought.filled_size
    worth = (bought.filled_size * Decimal("60000.00")).quantize(Decimal("0.01"), "ROUND_DOWN")
    assert (stop.action, stop.protection, stop.amount) == ("sell", "stop-loss", worth)
    assert stop.reason == (
        "sell: stop-loss: price 60000.00 is 40.3% below the entry"
        f" {entry.quantize(Decimal('0.01'))} (stop at 10%); sell £{worth}"
    )

    guarded = await decide_at(client, settings, db, "60000.00", now - timedelta(seconds=30))
    assert (guarded.action, guarded.protection) == ("hold", "stop-loss guard"), guarded.reason
    until = (now - timedelta(seconds=40) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    assert guarded.reason == (
        "hold: dca said buy, but stop-loss guard: 1 stop-losses within 24h;"
        f" paused until {until} UTC"
    )

    # The account was worth far more once: the drawdown guard holds buys ...
    await db.pool.execute("UPDATE protection_state SET equity_peak = 5000 WHERE scope = 'GBP'")
    held = await decide_at(client, settings, db, "60000.00", now - timedelta(seconds=20))
    assert (held.action, held.protection) == ("hold", "drawdown guard")
    assert held.reason.startswith("hold: dca said buy, but drawdown guard: the account is ")
    assert held.reason.endswith(
        "below its peak (limit 25%); buying resumes below 12.5% or with `kripto protections resume`"
    )
    # ... until someone resumes; then only the stop-loss guard stands in the way.
    assert await ProtectionRepository(db).resume("GBP") is True
    after = await decide_at(client, settings, db, "60000.00", now - timedelta(seconds=10))
    assert (after.action, after.protection) == ("hold", "stop-loss guard")
    assert await db.pool.fetchval("SELECT count(*) FROM trades") == 2  # the buy and the stop


async def test_the_trailing_stop_sells_a_position_that_fell_from_its_high(
    live: tuple[Client, Settings], db: Database
) -> None:
    client, settings = live
    now = datetime.now(UTC).replace(microsecond=0)
    rates = RateRepository(db)
    await rates.insert(
        Rate(rate=Decimal("50000.00"), date_time=now - timedelta(seconds=50), source="simulated")
    )
    bought = await buy(client, settings)
    # After the buy the price rose to 100,000 (stored), then the tick reads 60,000: above the
    # entry (no stop-loss), 40% below the high since entry.
    high = max(bought.created_at, now) + timedelta(seconds=5)
    await rates.insert(Rate(rate=Decimal("100000.00"), date_time=high, source="simulated"))
    trail = await decide_at(client, settings, db, "60000.00", high + timedelta(seconds=5))
    worth = (bought.filled_size * Decimal("60000.00")).quantize(Decimal("0.01"), "ROUND_DOWN")
    assert (trail.action, trail.protection, trail.amount) == ("sell", "trailing stop", worth)
    assert trail.reason == (
        "sell: trailing stop: price 60000.00 is 40% below its high since entry 100000.00"
        f" (trail 15%); sell £{worth}"
    )
