"""The trades table: the trade writer's insert, and the readers for people and the decider.

The trade's idempotency key (its workflow ID) is the primary key, so a retried or repeated
write stores one row (the original keyed trades by the exchange's order ID and had no key of
its own)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kripto.db.orders import order_from_row
from kripto.db.pool import Database
from kripto.models import Order

_COLUMNS = (
    "exchange_order_id, client_order_id, side, product_id, funds, filled_size,"
    " executed_value, fill_fees, settled, created_at"
)


def _order(row: Any) -> Order:
    return order_from_row(row, id_column="exchange_order_id")


class TradeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, trade_id: str, order: Order) -> bool:
        """Record a trade; False when a trade under that key is already recorded."""
        status = await self.db.pool.execute(
            f"INSERT INTO trades (trade_id, {_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (trade_id) DO NOTHING",
            trade_id,
            order.id,
            order.client_order_id,
            order.side.value,
            order.product_id,
            order.funds,
            order.filled_size,
            order.executed_value,
            order.fill_fees,
            order.settled,
            order.created_at,
        )
        return bool(status == "INSERT 0 1")

    async def get(self, trade_id: str) -> Order | None:
        row = await self.db.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM trades WHERE trade_id = $1", trade_id
        )
        return None if row is None else _order(row)

    async def recent(self, limit: int = 50) -> list[Order]:
        """The latest trades, newest first."""
        rows = await self.db.pool.fetch(
            f"SELECT {_COLUMNS} FROM trades ORDER BY created_at DESC, trade_id DESC LIMIT $1",
            limit,
        )
        return [_order(r) for r in rows]

    async def since(self, t: datetime) -> list[Order]:
        """Trades created at or after `t`, oldest first (the order a position is built in)."""
        rows = await self.db.pool.fetch(
            f"SELECT {_COLUMNS} FROM trades WHERE created_at >= $1"
            " ORDER BY created_at ASC, trade_id ASC",
            t,
        )
        return [_order(r) for r in rows]

    async def count(self) -> int:
        return int(await self.db.pool.fetchval("SELECT count(*) FROM trades"))
