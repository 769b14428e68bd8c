"""The dashboard's reads: the chart's rates in buckets, its trade markers, the latest trades
and decisions, and the paper balances (kripto/dashboard/data.py shapes them for the page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kripto.db.pool import Database


class DashboardQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def rate_bounds(self, product_id: str) -> tuple[datetime | None, datetime | None]:
        """The oldest and newest stored minute of the product."""
        row = await self.db.pool.fetchrow(
            "SELECT min(date_time) AS lo, max(date_time) AS hi FROM rates WHERE product_id = $1",
            product_id,
        )
        return row["lo"], row["hi"]

    async def bucketed_rates(self, product_id: str, lo: datetime, width: float) -> list[Any]:
        """The last rate of each `width`-second bucket from `lo` on (date_time, rate)."""
        return list(
            await self.db.pool.fetch(
                "SELECT DISTINCT ON (bucket) date_time, rate FROM ("
                "  SELECT floor(extract(epoch FROM date_time - $2::timestamptz) / $3) AS bucket,"
                "         date_time, rate FROM rates"
                "  WHERE product_id = $1 AND date_time >= $2"
                ") AS r ORDER BY bucket, date_time DESC",
                product_id,
                lo,
                width,
            )
        )

    async def trade_markers(self, product_id: str, since: datetime | None) -> list[Any]:
        """The product's trades since `since` with the decision that started each, if any."""
        return list(
            await self.db.pool.fetch(
                "SELECT t.trade_id, t.side, t.created_at, t.executed_value, t.filled_size,"
                "       d.reason, d.decision_id"
                " FROM trades t LEFT JOIN decisions d ON d.trade_id = t.trade_id"
                " WHERE t.product_id = $1 AND ($2::timestamptz IS NULL OR t.created_at >= $2)"
                " ORDER BY t.created_at",
                product_id,
                since,
            )
        )

    async def latest_trades(self, limit: int) -> list[Any]:
        return list(
            await self.db.pool.fetch(
                "SELECT trade_id, side, product_id, funds, filled_size, executed_value, fill_fees,"
                " settled, created_at, (SELECT k.amount FROM trade_keys k"
                " WHERE k.trade_id = trades.trade_id) AS asked"
                " FROM trades ORDER BY created_at DESC LIMIT $1",
                limit,
            )
        )

    async def latest_decisions(self, product_id: str, limit: int) -> list[Any]:
        return list(
            await self.db.pool.fetch(
                "SELECT decision_id, tick_time, action, amount, reason, trade_id, indicators"
                " FROM decisions"
                " WHERE product_id = $1 ORDER BY tick_time DESC LIMIT $2",
                product_id,
                limit,
            )
        )

    async def paper_balances(self) -> list[Any]:
        return list(await self.db.pool.fetch("SELECT currency, balance, hold FROM paper_accounts"))
