"""Read-only queries behind the worker's gauges and /healthz: each is one indexed lookup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kripto.db.pool import Database


@dataclass(frozen=True)
class Unsettled:
    count: int
    oldest: datetime | None


async def newest_rate_time(db: Database, product_id: str) -> datetime | None:
    """The newest stored rate's minute (the primary key's order, so one index probe)."""
    value: datetime | None = await db.pool.fetchval(
        "SELECT max(date_time) FROM rates WHERE product_id = $1", product_id
    )
    return value


async def newest_rate_times(db: Database, products: list[str]) -> dict[str, datetime | None]:
    """`newest_rate_time` of many products in one query (an index probe each)."""
    rows = await db.pool.fetch(
        "SELECT p.product_id, (SELECT max(date_time) FROM rates r"
        " WHERE r.product_id = p.product_id) AS newest FROM unnest($1::text[]) AS p(product_id)",
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
