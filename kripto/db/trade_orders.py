"""A trade's orders and fills (`trade_orders`, `trade_fills`): each order is written before it is
sent, so the books always know every client order ID a trade may have used; each fill is written
as the exchange reported it. Keyed by the client order ID (`<key>`, `<key>-2`, ...) and the
exchange's fill ID, so a retried step writes each once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from kripto.db.pool import Database
from kripto.trade_orders import OrderStatus, TradeFill, TradeOrder

_ORDER_COLUMNS = (
    "client_order_id, trade_id, seq, kind, side, product_id, limit_price, size, funds, end_time,"
    " exchange_order_id, status, reason, filled_size, executed_value, fill_fees, recorded_at,"
    " sent_at, ended_at"
)
_FILL_COLUMNS = (
    "fill_id, client_order_id, trade_id, exchange_order_id, price, size, fee, liquidity, filled_at"
)


def _order(row: Any) -> TradeOrder:
    return TradeOrder.model_validate(dict(row))


def _fill(row: Any) -> TradeFill:
    return TradeFill.model_validate(dict(row))


class TradeOrderRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, order: TradeOrder) -> TradeOrder:
        """Write the order before it is sent; a retry finds the row it wrote (and gets it back
        as it is now, perhaps sent or ended)."""
        await self.db.pool.execute(
            "INSERT INTO trade_orders (client_order_id, trade_id, seq, kind, side, product_id,"
            " limit_price, size, funds, end_time)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            # A row the exchange refused (no order exists under it) is written afresh by a new
            # run of a key that failed: it is sent again as if never sent.
            " ON CONFLICT (client_order_id) DO UPDATE SET status = 'recorded', reason = NULL,"
            " sent_at = NULL, ended_at = NULL"
            " WHERE trade_orders.status IN ('refused', 'crossed')"
            " AND trade_orders.exchange_order_id IS NULL",
            order.client_order_id,
            order.trade_id,
            order.seq,
            order.kind,
            order.side.value,
            order.product_id,
            order.limit_price,
            order.size,
            order.funds,
            order.end_time,
        )
        recorded = await self.get(order.client_order_id)
        assert recorded is not None
        return recorded

    async def sending(
        self,
        client_order_id: str,
        *,
        limit_price: Decimal | None,
        size: Decimal | None,
        funds: Decimal | None,
        end_time: datetime | None,
    ) -> None:
        """Mark the order as sent (or about to be): from here on it may exist on the exchange.
        The price and size are those of this send (a retry may re-read the touch)."""
        await self.db.pool.execute(
            "UPDATE trade_orders SET sent_at = coalesce(sent_at, now()), limit_price = $2,"
            " size = $3, funds = $4, end_time = $5 WHERE client_order_id = $1 AND status ="
            " 'recorded' AND exchange_order_id IS NULL",
            client_order_id,
            limit_price,
            size,
            funds,
            end_time,
        )

    async def update(
        self,
        client_order_id: str,
        *,
        status: OrderStatus,
        exchange_order_id: str | None = None,
        filled_size: Decimal | None = None,
        executed_value: Decimal | None = None,
        fill_fees: Decimal | None = None,
        reason: str | None = None,
    ) -> None:
        """The order as the exchange has it now. An ended order never goes back to open."""
        ended = status not in ("recorded", "open")
        await self.db.pool.execute(
            "UPDATE trade_orders SET status = $2,"
            " exchange_order_id = coalesce($3, exchange_order_id),"
            " filled_size = coalesce($4, filled_size),"
            " executed_value = coalesce($5, executed_value),"
            " fill_fees = coalesce($6, fill_fees), reason = coalesce($7, reason),"
            " ended_at = CASE WHEN $8 THEN coalesce(ended_at, now()) ELSE ended_at END"
            " WHERE client_order_id = $1"
            " AND (ended_at IS NULL OR $8)",
            client_order_id,
            status,
            exchange_order_id,
            filled_size,
            executed_value,
            fill_fees,
            reason,
            ended,
        )

    async def get(self, client_order_id: str) -> TradeOrder | None:
        row = await self.db.pool.fetchrow(
            f"SELECT {_ORDER_COLUMNS} FROM trade_orders WHERE client_order_id = $1",
            client_order_id,
        )
        return None if row is None else _order(row)

    async def of_trade(self, trade_id: str) -> list[TradeOrder]:
        rows = await self.db.pool.fetch(
            f"SELECT {_ORDER_COLUMNS} FROM trade_orders WHERE trade_id = $1 ORDER BY seq",
            trade_id,
        )
        return [_order(r) for r in rows]

    async def any_sent(self, trade_id: str) -> bool:
        """Whether any order of the trade was sent: then an order may exist under its key, and
        neither its claim nor its row may be released."""
        return bool(
            await self.db.pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM trade_orders WHERE trade_id = $1"
                " AND (exchange_order_id IS NOT NULL"
                " OR (sent_at IS NOT NULL AND status NOT IN ('refused', 'crossed'))))",
                trade_id,
            )
        )

    async def trade_of(self, client_order_ids: Iterable[str]) -> dict[str, str]:
        """The trade each known client order ID belongs to (a derived `<key>-N` included)."""
        rows = await self.db.pool.fetch(
            "SELECT client_order_id, trade_id FROM trade_orders"
            " WHERE client_order_id = ANY($1::text[])",
            list(client_order_ids),
        )
        return {str(r["client_order_id"]): str(r["trade_id"]) for r in rows}

    async def record_fills(self, fills: Sequence[TradeFill]) -> int:
        """Write the fills not written yet; returns how many were new."""
        new = 0
        async with self.db.pool.acquire() as conn, conn.transaction():
            for f in fills:
                status = await conn.execute(
                    f"INSERT INTO trade_fills ({_FILL_COLUMNS})"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    " ON CONFLICT (fill_id) DO NOTHING",
                    f.fill_id,
                    f.client_order_id,
                    f.trade_id,
                    f.exchange_order_id,
                    f.price,
                    f.size,
                    f.fee,
                    f.liquidity,
                    f.filled_at,
                )
                new += status == "INSERT 0 1"
        return new

    async def fills(self, trade_id: str) -> list[TradeFill]:
        rows = await self.db.pool.fetch(
            f"SELECT {_FILL_COLUMNS} FROM trade_fills WHERE trade_id = $1"
            " ORDER BY filled_at, fill_id",
            trade_id,
        )
        return [_fill(r) for r in rows]

    async def fills_of_trades(self, trade_ids: Sequence[str]) -> dict[str, list[TradeFill]]:
        rows = await self.db.pool.fetch(
            f"SELECT {_FILL_COLUMNS} FROM trade_fills WHERE trade_id = ANY($1::text[])"
            " ORDER BY filled_at, fill_id",
            list(trade_ids),
        )
        found: dict[str, list[TradeFill]] = {}
        for r in rows:
            found.setdefault(str(r["trade_id"]), []).append(_fill(r))
        return found
