"""Price history from CSV: a `time,price` header, then one row per rate (ISO-8601 UTC time,
decimal price), oldest first. Gaps are forward-filled onto a one-minute grid."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from kripto.strategies.indicators import Floats
from kripto.strategies.series import Mask, grid


class CsvError(ValueError):
    """A CSV file that cannot be read as prices; the message names the line and the rule."""


def read_prices(path: Path) -> tuple[Floats, datetime, Mask]:
    """One price per minute from the file, the time of the first minute, and which minutes
    had a row of their own."""
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise CsvError(f"{path}: cannot open it ({exc.strerror})") from None
    seconds: list[float] = []
    prices: list[float] = []
    with handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if header != ["time", "price"]:
            raise CsvError(f"{path}: line 1 must be the header `time,price`, not {header}")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 2:
                raise CsvError(f"{path}: line {line} must have two columns: time,price")
            at = _time(row[0].strip(), path, line)
            price = _price(row[1].strip(), path, line)
            if seconds and at <= seconds[-1]:
                raise CsvError(f"{path}: line {line} is not later than the line before it")
            seconds.append(at)
            prices.append(price)
    if not prices:
        raise CsvError(f"{path}: no prices after the header")
    first = datetime.fromtimestamp(seconds[0] // 60 * 60, tz=UTC)
    filled, observed = grid(np.array(seconds), np.array(prices))
    return filled, first, observed


def _time(text: str, path: Path, line: int) -> float:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CsvError(f"{path}: line {line}: time {text!r} is not ISO-8601") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.timestamp()


def _price(text: str, path: Path, line: int) -> float:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CsvError(f"{path}: line {line}: price {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise CsvError(f"{path}: line {line}: price {text!r} must be positive")
    return float(value)
