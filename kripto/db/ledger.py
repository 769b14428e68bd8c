"""The tax ledger's reads: every settled trade with a fill, and the rate of a minute (to put
a trade quoted in another currency into pounds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kripto.db.pool import Database


class LedgerQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def settled_trades(self) -> list[Any]:
        """Every settled trade with a fill, oldest first."""
        return list(
            await self.db.pool.fetch(
                "SELECT trade_id, side, product_id, filled_size, executed_value, fill_fees,"
                " created_at FROM trades WHERE settled AND filled_size > 0"
                " ORDER BY created_at, trade_id"
            )
        )

    async def rate_in_minute(self, product_id: str, at: datetime) -> Any | None:
        """The product's stored rate for the minute `at` falls in (date_time, rate), if any."""
        return await self.db.pool.fetchrow(
            "SELECT date_time, rate FROM rates WHERE product_id = $1"
            " AND date_time = date_trunc('minute', $2::timestamptz)",
            product_id,
            at,
        )
