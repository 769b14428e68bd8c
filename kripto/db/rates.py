"""The rates table: the rate-writer's insert and the data-reader's query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import numpy as np

from kripto.db.pool import Database
from kripto.models import Rate
from kripto.strategies.series import PriceHistory


class RateRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, rate: Rate) -> bool:
        """Store a rate; False when that product already has one for that time."""
        status = await self.db.pool.execute(
            "INSERT INTO rates (product_id, date_time, rate, source, fetched_at)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (product_id, date_time) DO NOTHING",
            rate.product_id,
            rate.date_time,
            rate.rate,
            rate.source,
            rate.fetched_at,
        )
        return bool(status == "INSERT 0 1")

    async def insert_many(self, rates: list[Rate], conn: asyncpg.Connection | None = None) -> int:
        """Store many rates in one statement (a backfill's page, an import); a minute that
        already has a rate keeps it (the live feed's rate is never overwritten). Returns how
        many were new. `conn`: a connection whose transaction the insert joins."""
        if not rates:
            return 0
        status = await (conn or self.db.pool).execute(
            "INSERT INTO rates (product_id, date_time, rate, source, fetched_at)"
            " SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::numeric[], $4::text[],"
            " $5::timestamptz[])"
            " ON CONFLICT (product_id, date_time) DO NOTHING",
            [r.product_id for r in rates],
            [r.date_time for r in rates],
            [r.rate for r in rates],
            [r.source for r in rates],
            [r.fetched_at for r in rates],
        )
        return int(status.rsplit(" ", 1)[1])

    async def since(
        self, product_id: str, start: datetime, end: datetime | None = None
    ) -> list[Rate]:
        """Rates in [start, end], oldest first: the order every consumer expects (the original
        returned newest first and its decider ran its EMAs backwards)."""
        rows = await self.db.pool.fetch(
            "SELECT product_id, date_time, rate, source, fetched_at FROM rates"
            " WHERE product_id = $1 AND date_time >= $2"
            " AND ($3::timestamptz IS NULL OR date_time <= $3)"
            " ORDER BY date_time ASC",
            product_id,
            start,
            end,
        )
        return [Rate.model_validate(dict(r)) for r in rows]

    async def history(self, product_id: str, start: datetime, end: datetime) -> PriceHistory:
        """Rates in [start, end] as arrays, oldest first: what the decider reads each tick.

        One row comes back, holding each column as one run of big-endian float8s (numpy reads
        it as it stands) and the newest rate as numeric, so money stays Decimal while a week
        of prices never becomes 10,080 Python objects (as Rate models they cost ~50 ms; as
        float8[] arrays, 4 ms of the 8 went on decoding them into Python floats). Postgres
        converts numeric to float8 with correct rounding, as Python's float(Decimal) does, so
        the indicators see the very same floats as from `since`. The rows are aggregated in
        scan order and sorted here: sorting inside the aggregate took half the query's time."""
        row = await self.db.pool.fetchrow(
            "SELECT string_agg(float8send(date_part('epoch', date_time)), ''::bytea) AS seconds,"
            " string_agg(float8send(rate::float8), ''::bytea) AS prices,"
            " max(date_time) AS newest_time,"
            " (SELECT rate FROM rates WHERE product_id = $1 AND date_time >= $2"
            "   AND date_time <= $3 ORDER BY date_time DESC LIMIT 1) AS newest_rate"
            " FROM rates WHERE product_id = $1 AND date_time >= $2 AND date_time <= $3",
            product_id,
            start,
            end,
        )
        return _history(row)

    async def histories(
        self, products: list[str], start: datetime, end: datetime
    ) -> dict[str, PriceHistory]:
        """`history` for many products in one query (an exchange tick decides for all of its
        markets at once): one row per product, the same arrays; a product with no rates in
        [start, end] gets an empty history.

        Each product's aggregate runs as a lateral subquery on its own range of the primary
        key, as `history` does: one GROUP BY over every product's rows sorted millions of them
        (on disk, past work_mem) and took over 30 s for 2,000 markets with a day each."""
        rows = await self.db.pool.fetch(
            "SELECT p.product_id, h.seconds, h.prices, h.newest_time, n.rate AS newest_rate"
            " FROM unnest($1::text[]) AS p(product_id)"
            " CROSS JOIN LATERAL (SELECT"
            "   string_agg(float8send(date_part('epoch', r.date_time)), ''::bytea) AS seconds,"
            "   string_agg(float8send(r.rate::float8), ''::bytea) AS prices,"
            "   max(r.date_time) AS newest_time"
            "  FROM rates r WHERE r.product_id = p.product_id AND r.date_time >= $2"
            "  AND r.date_time <= $3) h"
            " LEFT JOIN LATERAL (SELECT r.rate FROM rates r WHERE r.product_id = p.product_id"
            "  AND r.date_time >= $2 AND r.date_time <= $3"
            "  ORDER BY r.date_time DESC LIMIT 1) n ON true",
            products,
            start,
            end,
        )
        found = {r["product_id"]: _history(r) for r in rows}
        return {p: found.get(p) or _history(None) for p in products}

    async def latest(self, product_id: str, before: datetime | None = None) -> Rate | None:
        """The product's newest rate (before `before`, if given)."""
        row = await self.db.pool.fetchrow(
            "SELECT product_id, date_time, rate, source, fetched_at FROM rates"
            " WHERE product_id = $1 AND ($2::timestamptz IS NULL OR date_time < $2)"
            " ORDER BY date_time DESC LIMIT 1",
            product_id,
            before,
        )
        return None if row is None else Rate.model_validate(dict(row))

    async def count(self, product_id: str) -> int:
        return int(
            await self.db.pool.fetchval(
                "SELECT count(*) FROM rates WHERE product_id = $1", product_id
            )
        )


def _history(row: Any) -> PriceHistory:
    if row is None or row["seconds"] is None:
        return PriceHistory(np.empty(0), np.empty(0), None, None)
    seconds = np.frombuffer(row["seconds"], dtype=">f8").astype(np.float64)
    prices = np.frombuffer(row["prices"], dtype=">f8").astype(np.float64)
    if seconds.size > 1 and not bool(np.all(seconds[1:] > seconds[:-1])):
        order = np.argsort(seconds, kind="stable")
        seconds, prices = seconds[order], prices[order]
    return PriceHistory(seconds, prices, row["newest_time"], row["newest_rate"])
