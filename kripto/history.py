"""Price history as CSV, in the backtester's format (kripto/backtest/csvfile.py): a
`time,price` header, then one row per minute, `2026-01-01T00:00:00Z,61234.56`, oldest first.

Import reads prices as Decimal (money never goes through float), checks every row first and
stores nothing if one is bad, naming its line and the rule. Imported rates say `csv`; a minute
that already has a rate keeps it."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from kripto.backtest.csvfile import CsvError
from kripto.db.pool import Database
from kripto.db.rates import RateRepository
from kripto.models import Rate
from kripto.money import plain

HEADER = ["time", "price"]
#: Rows stored per statement on import.
BATCH = 10_000


def read_rates_csv(path: Path, product_id: str) -> list[Rate]:
    """Every row of the file as a rate marked `csv`, or a CsvError naming the first bad line."""
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise CsvError(f"{path}: cannot open it ({exc.strerror})") from None
    with handle:
        return list(_rows(handle, path, product_id))


def _rows(handle: TextIO, path: Path, product_id: str) -> Iterator[Rate]:
    reader = csv.reader(handle)
    header = [h.strip().lower() for h in next(reader, [])]
    if header != HEADER:
        raise CsvError(f"{path}: line 1 must be the header `time,price`, not {header}")
    last: datetime | None = None
    count = 0
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != 2:
            raise CsvError(f"{path}: line {line} must have two columns: time,price")
        at = _time(row[0].strip(), path, line)
        price = _price(row[1].strip(), path, line)
        if last is not None and at <= last:
            raise CsvError(f"{path}: line {line} is not later than the line before it")
        last = at
        count += 1
        yield Rate(product_id=product_id, rate=price, date_time=at, source="csv")
    if not count:
        raise CsvError(f"{path}: no prices after the header")


def _time(text: str, path: Path, line: int) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CsvError(f"{path}: line {line}: time {text!r} is not ISO-8601") from None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if at.second or at.microsecond:
        raise CsvError(f"{path}: line {line}: time {text!r} must be on a whole minute")
    return at


def _price(text: str, path: Path, line: int) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CsvError(f"{path}: line {line}: price {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise CsvError(f"{path}: line {line}: price {text!r} must be positive")
    return value


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
    rows = await db.pool.fetch(
        "SELECT date_time, rate FROM rates WHERE product_id = $1"
        " AND ($2::timestamptz IS NULL OR date_time >= $2) ORDER BY date_time",
        product_id,
        start,
    )
    with path.open("w", newline="") as handle:
        handle.write("time,price\n")
        handle.writelines(
            f"{r['date_time'].astimezone(UTC):%Y-%m-%dT%H:%M:%SZ},{plain(r['rate'])}\n"
            for r in rows
        )
    return len(rows)
