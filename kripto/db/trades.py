"""The trades table: the trade writer's insert, and the readers for people and the decider.

The trade's idempotency key (its workflow ID) is the primary key, so a retried or repeated
write stores one row (the original keyed trades by the exchange's order ID and had no key of
its own). Every order is on the books from the moment it may exist: claiming the key writes the
trade's row (unsettled, its order ID not known yet) in the same transaction, so the guards count
it at once and however long it takes; placing fills in the order, and the writer completes the
row when the order settles. Only the exchange's verdict (a create refused before any order
exists, or an order ended with nothing filled) takes the row off the books again."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from kripto.db.orders import order_columns, order_from_row, order_values
from kripto.db.pool import Database
from kripto.models import Order, Side, TradeRequest
from kripto.portfolio import Fill

_COLUMNS = order_columns("exchange_order_id")
#: What the readers select: a trade whose order the exchange has not named yet reads as ID "".
_SELECT = "coalesce(exchange_order_id, '') AS " + _COLUMNS


def _order(row: Any) -> Order:
    return order_from_row(row, id_column="exchange_order_id")


def _request(row: Any) -> TradeRequest:
    return TradeRequest(
        trade_type=Side(row["side"]), amount=row["amount"], product_id=row["product_id"]
    )


class TradeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, trade_id: str, order: Order) -> bool:
        """Record a trade, or complete its unsettled row; False when nothing changed (the trade
        is recorded already, or an unsettled state would overwrite a settled one)."""
        status = await self.db.pool.execute(
            f"INSERT INTO trades (trade_id, {_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (trade_id) DO UPDATE SET"
            " exchange_order_id = EXCLUDED.exchange_order_id, funds = EXCLUDED.funds,"
            " filled_size = EXCLUDED.filled_size, executed_value = EXCLUDED.executed_value,"
            " fill_fees = EXCLUDED.fill_fees, settled = EXCLUDED.settled, recorded_at = now()"
            " WHERE NOT trades.settled AND EXCLUDED.settled",
            trade_id,
            order.id,
            *order_values(order),
        )
        return bool(status == "INSERT 0 1")

    async def set_execution(self, trade_id: str, execution: str, outcome: str | None) -> None:
        """How the trade was executed (`maker_first`, `taker`) and what a person should read
        about it (a remainder skipped, a stale quote held)."""
        await self.db.pool.execute(
            "UPDATE trades SET execution = $2, outcome = $3 WHERE trade_id = $1",
            trade_id,
            execution,
            outcome,
        )

    async def execution_of(self, trade_id: str) -> tuple[str, str | None]:
        """How the trade was executed and its outcome note (`taker`, None when unknown)."""
        row = await self.db.pool.fetchrow(
            "SELECT execution, outcome FROM trades WHERE trade_id = $1", trade_id
        )
        return ("taker", None) if row is None else (str(row["execution"]), row["outcome"])

    async def get(self, trade_id: str) -> Order | None:
        row = await self.db.pool.fetchrow(
            f"SELECT {_SELECT} FROM trades WHERE trade_id = $1", trade_id
        )
        return None if row is None else _order(row)

    async def forget_unsettled(self, trade_id: str) -> None:
        """Drop the unsettled row of an order the exchange ended with nothing filled: it never
        became a trade. The key stays claimed (the order exists, ended, under it)."""
        await self.db.pool.execute(
            "DELETE FROM trades WHERE trade_id = $1 AND NOT settled", trade_id
        )

    async def release(self, trade_id: str) -> None:
        """The exchange refused the create before any order existed: the row and the claim go
        together, so the key is free and a new request under it is checked afresh. Never a row
        or a claim that names an exchange order: one whose row has its order's ID, or any of
        whose orders (`trade_orders`) was sent and not refused."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            deleted = await conn.execute(
                "DELETE FROM trades WHERE trade_id = $1 AND NOT settled"
                " AND exchange_order_id IS NULL AND NOT EXISTS (SELECT 1 FROM trade_orders o"
                " WHERE o.trade_id = $1 AND (o.exchange_order_id IS NOT NULL"
                " OR (o.sent_at IS NOT NULL AND o.status NOT IN ('refused', 'crossed'))))",
                trade_id,
            )
            if deleted == "DELETE 1":
                await conn.execute("DELETE FROM trade_keys WHERE trade_id = $1", trade_id)

    async def claimed(self, trade_id: str) -> TradeRequest | None:
        """What the key was claimed for, or None while it is free."""
        row = await self.db.pool.fetchrow(
            "SELECT side, amount, product_id FROM trade_keys WHERE trade_id = $1", trade_id
        )
        return None if row is None else _request(row)

    async def claim(self, trade_id: str, request: TradeRequest) -> TradeRequest | None:
        """Claim the key for this request and put the trade on the books, in one transaction:
        its row (unsettled, order not named yet, worth the request's amount) counts for the
        guards from here on. Returns what the key was first used for when that was a different
        trade (None when the key is new or was used for this very request)."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO trade_keys (trade_id, side, amount, product_id)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (trade_id) DO NOTHING",
                trade_id,
                request.trade_type.value,
                request.amount,
                request.product_id,
            )
            row = await conn.fetchrow(
                "SELECT side, amount, product_id FROM trade_keys WHERE trade_id = $1", trade_id
            )
            first = _request(row)
            if not first.same_trade(request):
                return first
            await conn.execute(
                f"INSERT INTO trades (trade_id, {_COLUMNS})"
                " VALUES ($1, NULL, $1, $2, $3, $4, 0, 0, 0, false, now())"
                " ON CONFLICT (trade_id) DO NOTHING",
                trade_id,
                request.trade_type.value,
                request.product_id,
                request.amount,
            )
        return None

    async def placed(self, trade_id: str, order: Order) -> None:
        """Name the trade's order on its row, still unsettled (the writer settles it): the
        amount the guards count never drops below what was claimed."""
        await self.db.pool.execute(
            f"INSERT INTO trades (trade_id, {_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false, $10)"
            " ON CONFLICT (trade_id) DO UPDATE SET"
            " exchange_order_id = EXCLUDED.exchange_order_id,"
            " funds = greatest(trades.funds, EXCLUDED.funds),"
            " filled_size = EXCLUDED.filled_size, executed_value = EXCLUDED.executed_value,"
            " fill_fees = EXCLUDED.fill_fees, created_at = EXCLUDED.created_at"
            " WHERE NOT trades.settled",
            trade_id,
            order.id,
            order.client_order_id,
            order.side.value,
            order.product_id,
            order.funds,
            order.filled_size,
            order.executed_value,
            order.fill_fees,
            order.created_at,
        )

    async def recent(self, limit: int = 50) -> list[Order]:
        """The latest trades, newest first."""
        rows = await self.db.pool.fetch(
            f"SELECT {_SELECT} FROM trades ORDER BY created_at DESC, trade_id DESC LIMIT $1",
            limit,
        )
        return [_order(r) for r in rows]

    async def fills(self, product_id: str) -> list[Fill]:
        """Every recorded fill of a product, oldest first: what a position is made of."""
        rows = await self.db.pool.fetch(
            "SELECT created_at, side, filled_size, executed_value, fill_fees FROM trades"
            " WHERE product_id = $1 ORDER BY created_at",
            product_id,
        )
        return [
            Fill(
                r["created_at"],
                Side(r["side"]),
                r["filled_size"],
                r["executed_value"],
                r["fill_fees"],
            )
            for r in rows
        ]

    async def since(
        self, t: datetime, *, product_id: str | None = None, quote: str | None = None
    ) -> list[Order]:
        """Trades created at or after `t`, oldest first (the order a position is built in): of
        one product, of every product quoted in `quote` (the daily spend limit's scope), or
        of all."""
        rows = await self.db.pool.fetch(
            f"SELECT {_SELECT} FROM trades WHERE created_at >= $1"
            " AND ($2::text IS NULL OR product_id = $2)"
            " AND ($3::text IS NULL OR split_part(product_id, '-', 2) = $3)"
            " ORDER BY created_at ASC, trade_id ASC",
            t,
            product_id,
            quote,
        )
        return [_order(r) for r in rows]

    async def count(self) -> int:
        return int(await self.db.pool.fetchval("SELECT count(*) FROM trades"))

    async def keys_starting(self, prefix: str, limit: int = 6) -> list[str]:
        """The trade keys that begin with `prefix` (as the tables show a key's first 8
        characters), oldest first; at most `limit`."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self.db.pool.fetch(
            "SELECT trade_id FROM trades WHERE trade_id LIKE $1 || '%' ESCAPE '\\'"
            " ORDER BY created_at, trade_id LIMIT $2",
            escaped,
            limit,
        )
        return [r["trade_id"] for r in rows]

    async def recent_asked(self, limit: int = 50) -> list[tuple[Order, Decimal | None]]:
        """The latest trades, newest first, each with the amount it was asked for (its key's
        claim; None for an order the reconciler found, which nobody asked Kripto for)."""
        rows = await self.db.pool.fetch(
            f"SELECT {_SELECT}, (SELECT k.amount FROM trade_keys k"
            " WHERE k.trade_id = trades.trade_id) AS asked FROM trades"
            " ORDER BY created_at DESC, trade_id DESC LIMIT $1",
            limit,
        )
        return [(_order(r), r["asked"]) for r in rows]
