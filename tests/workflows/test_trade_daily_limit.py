"""A trade started through Temporal directly (not by a decision, not by `kripto trade`) is held
to the daily spend limit as well as the per-trade maximum (docs/security.md): the limit is a
setting of the worker, which nobody can lift through Temporal."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from temporalio.client import WorkflowFailureError

from kripto.db.decisions import DecisionRepository
from kripto.ids import decide_id
from kripto.models import Decision
from kripto.settings import Settings
from tests.failures import root_cause
from tests.trading_fixtures import Trading


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"daily_spend_limit_gbp": Decimal("250.00")})


async def start_directly(trading: Trading, key: str, side: str, amount: str) -> dict[str, str]:
    """As a client of Temporal's would: by type name, with a raw JSON payload."""
    result: dict[str, str] = await trading.client.execute_workflow(
        "TradeWorkflow",
        {"tradeType": side, "amount": amount, "productId": "BTC-GBP"},
        id=key,
        task_queue=trading.settings.temporal.task_queue,
        result_type=dict,
    )
    return result


async def test_a_buy_started_through_temporal_is_held_to_the_daily_limit(
    trading: Trading,
) -> None:
    first = await start_directly(trading, "direct-1", "buy", "200.00")
    assert first["settled"] is True
    with pytest.raises(WorkflowFailureError) as refused:
        await start_directly(trading, "direct-2", "buy", "60.00")
    assert root_cause(refused.value) == (
        "InvalidInput: amount £60.00 would pass the daily spend limit: £200.00 of £250.00 spent"
        " in the last 24 hours (KRIPTO_DAILY_SPEND_LIMIT_GBP)"
    )
    # What is left still goes, and a sell is no spending.
    assert (await start_directly(trading, "direct-3", "buy", "50.00"))["settled"] is True
    assert (await start_directly(trading, "direct-4", "sell", "20.00"))["settled"] is True
    assert await trading.count("trades") == 3
    assert await trading.count("paper_orders") == 3


async def test_a_trade_decided_on_and_not_yet_claimed_counts_for_the_daily_limit(
    trading: Trading,
) -> None:
    """A decision reserves its trade's amount as it is recorded (docs/books.md): a buy started
    meanwhile sees it, before the decided trade has claimed its key."""
    now = datetime.now(UTC)
    decided = Decision(
        decision_id=decide_id("BTC-GBP", now),
        product_id="BTC-GBP",
        tick_time=now,
        action="buy",
        amount=Decimal("200.00"),
        strategy="zscore",
        params={},
        indicators={},
        reason="buy: zscore signal",
    )
    await DecisionRepository(trading.db).record(decided, "trade-decided")
    with pytest.raises(WorkflowFailureError) as refused:
        await start_directly(trading, "direct-1", "buy", "60.00")
    assert root_cause(refused.value) == (
        "InvalidInput: amount £60.00 would pass the daily spend limit: £200.00 of £250.00 spent"
        " in the last 24 hours (KRIPTO_DAILY_SPEND_LIMIT_GBP)"
    )
    # The decided trade failed before placing: its reservation ends, and the buy fits.
    await DecisionRepository(trading.db).end_reservation("trade-decided")
    assert (await start_directly(trading, "direct-2", "buy", "60.00"))["settled"] is True
    assert await trading.count("paper_orders") == 1
