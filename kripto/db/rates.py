"""The rates table: the rate-writer's insert and the data-reader's query."""

from __future__ import annotations

from datetime import datetime

from kripto.db.pool import Database
from kripto.models import Rate


class RateRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, rate: Rate) -> bool:
        """Store a rate; False when that product already has one for that time."""
        status = await self.db.pool.execute(
            "INSERT INTO rates (product_id, date_time, rate, source) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (product_id, date_time) DO NOTHING",
            rate.product_id,
            rate.date_time,
            rate.rate,
            rate.source,
        )
        return bool(status == "INSERT 0 1")

    async def since(
        self, product_id: str, start: datetime, end: datetime | None = None
    ) -> list[Rate]:
        """Rates in [start, end], oldest first: the order every consumer expects (the original
        returned newest first and its decider ran its EMAs backwards)."""
        rows = await self.db.pool.fetch(
            "SELECT product_id, date_time, rate, source FROM rates"
            " WHERE product_id = $1 AND date_time >= $2"
            " AND ($3::timestamptz IS NULL OR date_time <= $3)"
            " ORDER BY date_time ASC",
            product_id,
            start,
            end,
        )
        return [Rate.model_validate(dict(r)) for r in rows]

    async def latest(self, product_id: str) -> Rate | None:
        row = await self.db.pool.fetchrow(
            "SELECT product_id, date_time, rate, source FROM rates WHERE product_id = $1"
            " ORDER BY date_time DESC LIMIT 1",
            product_id,
        )
        return None if row is None else Rate.model_validate(dict(row))

    async def count(self, product_id: str) -> int:
        return int(
            await self.db.pool.fetchval(
                "SELECT count(*) FROM rates WHERE product_id = $1", product_id
            )
        )
