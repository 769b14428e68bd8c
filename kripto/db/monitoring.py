"""Read-only queries behind the worker's gauges and /healthz: each is one indexed lookup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kripto.db.pool import Database


@dataclass(frozen=True)
class Unsettled:
    count: int
    oldest: datetime | None


#: When the newest rate was read: its fetch time, or the start of its minute for a rate that
#: has none (candles, CSV). The primary key's order finds it, so one index probe a product.
_NEWEST = (
    "(SELECT coalesce(r.fetched_at, r.date_time) FROM rates r WHERE r.product_id = {product}"
    " ORDER BY r.date_time DESC LIMIT 1)"
)


async def newest_rate_time(db: Database, product_id: str) -> datetime | None:
    """When the newest stored rate was read (a rate's age counts from its fetch, not from the
    start of the minute it stands for, which is up to a minute earlier)."""
    value: datetime | None = await db.pool.fetchval(
        "SELECT " + _NEWEST.format(product="$1"), product_id
    )
    return value


async def newest_rate_times(db: Database, products: list[str]) -> dict[str, datetime | None]:
    """`newest_rate_time` of many products in one query (an index probe each)."""
    rows = await db.pool.fetch(
        "SELECT p.product_id, " + _NEWEST.format(product="p.product_id") + " AS newest"
        " FROM unnest($1::text[]) AS p(product_id)",
        products,
    )
    return {r["product_id"]: r["newest"] for r in rows}


async def unsettled_trades(db: Database) -> Unsettled:
    row = await db.pool.fetchrow("SELECT count(*), min(created_at) FROM trades WHERE NOT settled")
    assert row is not None
    return Unsettled(count=int(row[0]), oldest=row[1])


async def open_differences(db: Database) -> dict[str, int]:
    """Differences the reconciler flagged and no later run has seen resolved, by kind."""
    rows = await db.pool.fetch(
        "SELECT kind, count(*) FROM reconcile_differences WHERE resolved_at IS NULL GROUP BY kind"
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def ping(db: Database) -> None:
    await db.pool.fetchval("SELECT 1")
