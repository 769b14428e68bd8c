"""The decisions table against a real Postgres: one row per decision ID, read back exactly,
newest first, and the trade a decision started."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kripto.db import Database
from kripto.db.decisions import DecisionRepository
from kripto.decisions import Action, Decision

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def decision(
    minute: int, action: Action = "hold", amount: str = "0", product: str = "BTC-GBP"
) -> Decision:
    return Decision(
        decision_id=f"decide-{product}-{minute}",
        product_id=product,
        tick_time=T0 + timedelta(minutes=minute),
        action=action,
        amount=Decimal(amount),
        strategy="ema_cross",
        params={"short": "360", "long": "1440"},
        indicators={"ema_short": "60012.3", "edge": "0.0123"},
        reason=f"{action}: because",
    )


async def test_a_decision_is_recorded_once_and_read_back_exactly(db: Database) -> None:
    repo = DecisionRepository(db)
    first = decision(0, "buy", "150.00")
    assert await repo.record(first) is True
    assert await repo.record(first.model_copy(update={"reason": "other"})) is False
    back = await repo.get(first.decision_id)
    assert back == first
    assert back is not None and str(back.amount) == "150.00"
    assert await db.pool.fetchval("SELECT count(*) FROM decisions") == 1
    assert await repo.get("decide-BTC-GBP-missing") is None


async def test_params_and_indicators_are_json_objects_in_postgres(db: Database) -> None:
    repo = DecisionRepository(db)
    await repo.record(decision(0))
    row = await db.pool.fetchrow(
        "SELECT params->>'long' AS long, indicators->>'edge' AS edge, trade_id"
        " FROM decisions WHERE decision_id = 'decide-BTC-GBP-0'"
    )
    assert dict(row) == {"long": "1440", "edge": "0.0123", "trade_id": None}


async def test_recent_is_newest_first(db: Database) -> None:
    repo = DecisionRepository(db)
    for minute in (1, 3, 2):
        await repo.record(decision(minute))
    await repo.record(decision(4, product="ETH-GBP"))
    assert [d.decision_id for d in await repo.recent(2)] == [
        "decide-ETH-GBP-4",
        "decide-BTC-GBP-3",
    ]
    assert [d.decision_id for d in await repo.recent(5, product_id="BTC-GBP")] == [
        "decide-BTC-GBP-3",
        "decide-BTC-GBP-2",
        "decide-BTC-GBP-1",
    ]
    assert await repo.recent(5, product_id="SOL-GBP") == []


async def test_the_trade_a_decision_started_is_linked_once(db: Database) -> None:
    repo = DecisionRepository(db)
    await repo.record(decision(0, "buy", "150.00"))
    assert await repo.trade_id("decide-BTC-GBP-0") is None
    assert await repo.link_trade("decide-BTC-GBP-0", "trade-BTC-GBP-0") is True
    assert await repo.link_trade("decide-BTC-GBP-0", "trade-other") is False
    assert await repo.trade_id("decide-BTC-GBP-0") == "trade-BTC-GBP-0"
    assert await repo.link_trade("decide-BTC-GBP-unknown", "trade-x") is False
