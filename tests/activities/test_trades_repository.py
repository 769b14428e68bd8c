"""The trades table: one row per trade key, exact Decimals, newest-first reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kripto.db import Database
from kripto.db.trades import TradeRepository
from kripto.models import Order, Side

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def order(n: int, side: Side = Side.BUY, settled: bool = True) -> Order:
    return Order(
        id=f"order-{n}",
        side=side,
        product_id="BTC-GBP",
        funds=Decimal("9.95024875"),
        settled=settled,
        created_at=T0 + timedelta(minutes=n),
        fill_fees=Decimal("0.049751102976"),
        filled_size=Decimal("0.00125952"),
        executed_value=Decimal("9.9502205952"),
        client_order_id=f"trade-{n}",
    )


async def test_insert_is_idempotent_per_trade_key(db: Database) -> None:
    repo = TradeRepository(db)
    assert await repo.insert("trade-1", order(1)) is True
    assert await repo.insert("trade-1", order(1, side=Side.SELL, settled=False)) is False
    assert await repo.count() == 1
    assert await repo.get("trade-1") == order(1)
    assert await repo.get("missing") is None


async def test_money_round_trips_exactly(db: Database) -> None:
    repo = TradeRepository(db)
    await repo.insert("trade-1", order(1))
    stored = await repo.get("trade-1")
    assert stored is not None
    assert stored.fill_fees == Decimal("0.049751102976")
    assert stored.to_json_dict()["executedValue"] == "9.9502205952"
    assert stored.to_json_dict()["createdAt"] == "2026-11-24T12:01:00Z"


async def test_recent_is_newest_first_and_since_oldest_first(db: Database) -> None:
    repo = TradeRepository(db)
    for n in (2, 0, 3, 1):
        await repo.insert(f"trade-{n}", order(n))
    assert [o.id for o in await repo.recent()] == ["order-3", "order-2", "order-1", "order-0"]
    assert [o.id for o in await repo.recent(limit=2)] == ["order-3", "order-2"]
    since = await repo.since(T0 + timedelta(minutes=2))
    assert [o.id for o in since] == ["order-2", "order-3"]
    assert await repo.count() == 4
