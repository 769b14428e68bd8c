"""The decisions table against a real Postgres: one row per decision ID, read back exactly,
newest first, the trades decisions started, and one decision at a time per product."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from kripto.db import Database
from kripto.db.decisions import DecisionRepository
from kripto.models import Action, Decision

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


async def test_a_decision_names_the_trade_it_started(db: Database) -> None:
    repo = DecisionRepository(db)
    await repo.record(decision(0, "buy", "150.00"), "trade-BTC-GBP-0")
    await repo.record(decision(1))  # a hold starts nothing
    assert await repo.trade_id("decide-BTC-GBP-0") == "trade-BTC-GBP-0"
    assert await repo.trade_id("decide-BTC-GBP-1") is None


async def test_decisions_for_one_product_take_turns(db: Database) -> None:
    repo = DecisionRepository(db)
    events: list[str] = []

    async def decide(name: str, product: str) -> None:
        async with repo.exclusive(product):
            events.append(f"{name} in")
            await asyncio.sleep(0.2)
            events.append(f"{name} out")

    await asyncio.gather(decide("a", "BTC-GBP"), decide("b", "BTC-GBP"))
    assert events in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    events.clear()
    await asyncio.gather(decide("c", "BTC-GBP"), decide("d", "ETH-GBP"))
    assert events[:2] in (["c in", "d in"], ["d in", "c in"])  # other products do not wait


async def test_the_lock_waits_at_most_its_timeout_and_ends_with_its_block(db: Database) -> None:
    """Transaction-scoped on a pooled connection: a waiter gives up after `wait` (a retryable
    error for the activity), and a block that fails still lets the next one in."""
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with db.advisory_lock("kripto-test-lock"):
            held.set()
            await release.wait()
            raise RuntimeError("the decision failed")

    task = asyncio.create_task(holder())
    await held.wait()
    try:
        async with db.advisory_lock("kripto-test-lock", wait=0.2):
            raise AssertionError("the lock was taken twice")
    except asyncpg.LockNotAvailableError as exc:
        assert str(exc) == "canceling statement due to lock timeout"
    release.set()
    try:
        await task
    except RuntimeError as exc:
        assert str(exc) == "the decision failed"
    try_lock = "SELECT pg_try_advisory_xact_lock(hashtext('kripto-test-lock'))"
    async with db.advisory_lock("kripto-test-lock", wait=1.0):
        assert await db.pool.fetchval(try_lock) is False  # held, by this block alone
    assert await db.pool.fetchval(try_lock) is True  # and given back when it ended
