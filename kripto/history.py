"""Price history as CSV, in the backtester's format (kripto/backtest/csvfile.py): a
`time,price` header, then one row per minute, `2026-01-01T00:00:00Z,61234.56`, oldest first.

Import reads prices as Decimal (money never goes through float), checks every row first and
stores nothing if one is bad, naming its line and the rule. Imported rates say `csv`; a minute
that already has a rate keeps it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from kripto.backtest.csvfile import HEADER, price_rows
from kripto.db.pool import Database
from kripto.db.rates import RateRepository
from kripto.models import Rate
from kripto.money import plain

#: Rows stored per statement on import.
BATCH = 10_000


def read_rates_csv(path: Path, product_id: str) -> list[Rate]:
    """Every row of the file as a rate marked `csv`, or a CsvError naming the first bad line."""
    return [
        Rate(product_id=product_id, rate=price, date_time=at, source="csv")
        for at, price in price_rows(path, whole_minutes=True)
    ]


async def import_rates(db: Database, rates: list[Rate]) -> int:
    """Store the rates (all or nothing); returns how many were new."""
    repository = RateRepository(db)
    stored = 0
    async with db.pool.acquire() as conn, conn.transaction():
        for i in range(0, len(rates), BATCH):
            stored += await repository.insert_many(rates[i : i + BATCH], conn)
    return stored


async def export_rates(
    db: Database, path: Path, product_id: str, start: datetime | None = None
) -> int:
    """Write the product's rates (from `start`, or all) to `path`; returns the row count."""
    rows = await RateRepository(db).series(product_id, start)
    with path.open("w", newline="") as handle:
        handle.write(",".join(HEADER) + "\n")
        handle.writelines(
            f"{r['date_time'].astimezone(UTC):%Y-%m-%dT%H:%M:%SZ},{plain(r['rate'])}\n"
            for r in rows
        )
    return len(rows)
