"""Price history from CSV: a `time,price` header, then one row per rate (ISO-8601 UTC time,
decimal price), oldest first. Gaps are forward-filled onto a one-minute grid."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from kripto.strategies.indicators import Floats
from kripto.strategies.series import Mask, Spaced, grid, regular

#: The first line of every price CSV.
HEADER = ["time", "price"]


class CsvError(ValueError):
    """A CSV file that cannot be read as prices; the message names the line and the rule."""


def read_prices(path: Path) -> tuple[Floats, datetime, Mask]:
    """One price per minute from the file, the time of the first minute, and which minutes
    had a row of their own.

    A file in the usual shape (times all written alike, `2026-01-01T00:00:00Z`, plain prices)
    is parsed whole with numpy: a year of minutes in about a tenth of a second, where a row at a
    time took over a second. Anything the fast path does not vouch for, it hands to the row
    reader, which accepts every ISO-8601 form and names the line and the rule of a bad row."""
    fast = _fast(path)
    if fast is not None:
        seconds, prices = fast
        first = datetime.fromtimestamp(seconds[0] // 60 * 60, tz=UTC)
        filled, observed = grid(seconds, prices)
        return filled, first, observed
    return _read_rows(path)


#: The fixed-width time forms the fast path reads, by their tail after the seconds.
_TAILS = ("Z", "+00:00", "")
_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)  # YYYY-MM-DDTHH:MM:SS
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _fast(path: Path) -> tuple[Floats, Floats] | None:
    """Both columns as arrays (numpy's C reader), or None when the file is not in the usual
    shape or has any row the row reader might reject (then it reads the file and says which
    line)."""
    try:
        with path.open(newline="") as handle:
            head = handle.readline()
            first = handle.readline()
        if [h.strip().lower() for h in head.split(",")] != ["time", "price"]:
            return None
        # The times are read as bytes one wider than the first row's, so a longer one shows
        # (its extra byte is not zero) and a shorter one fails the template below.
        width = len(first.partition(",")[0])
        tail = first[19:width]
        if tail not in _TAILS or width != 19 + len(tail):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no data": the row reader says it properly
            table = np.loadtxt(
                path,
                delimiter=",",
                skiprows=1,
                comments=None,
                dtype=[("time", f"S{width + 1}"), ("price", np.float64)],
                ndmin=1,
            )
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    rows = int(table.size)
    if rows == 0:
        return None
    prices = np.ascontiguousarray(table["price"])
    if not bool(np.all(np.isfinite(prices) & (prices > 0))):
        return None
    raw = np.ascontiguousarray(table["time"]).view(np.uint8).reshape(rows, width + 1)
    if bool(np.any(raw[:, width])):
        return None
    chars = raw[:, :width]
    template = np.frombuffer(f"0000-00-00T00:00:00{tail}".encode(), dtype=np.uint8)
    separators = [i for i in range(width) if i not in _DIGITS]
    if not bool(np.all(chars[:, separators] == template[separators])):
        return None
    digits = chars[:, _DIGITS].astype(np.int32) - ord("0")  # YYYYMMDDHHMMSS, one per column
    if not bool(np.all((digits >= 0) & (digits <= 9))):
        return None
    tens = digits[:, 0::2] * 10 + digits[:, 1::2]  # YY YY MM DD HH MM SS
    year = (tens[:, 0] * 100 + tens[:, 1]).astype(np.int64)
    month, day, hour, minute, second = (tens[:, i].astype(np.int64) for i in range(2, 7))
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if not bool(np.all((month >= 1) & (month <= 12) & (day >= 1) & (year >= 1970))):
        return None
    month_length = _MONTH_DAYS[month - 1] + ((month == 2) & leap)
    if not bool(np.all((day <= month_length) & (hour < 24) & (minute < 60) & (second < 60))):
        return None
    # Days since 1970-01-01 (H. Hinnant's days_from_civil, for years from 1970 on).
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    seconds = (days * 86400 + hour * 3600 + minute * 60 + second).astype(np.float64)
    if rows > 1 and not bool(np.all(seconds[1:] > seconds[:-1])):
        return None
    return seconds, prices


def read_series(path: Path) -> Spaced:
    """The file at its own spacing (an hourly file stays hourly), gaps counted, not hidden."""
    fast = _fast(path)
    seconds, prices = fast if fast is not None else _rows(path)
    return regular(seconds, prices)


def _read_rows(path: Path) -> tuple[Floats, datetime, Mask]:
    seconds, prices = _rows(path)
    first = datetime.fromtimestamp(seconds[0] // 60 * 60, tz=UTC)
    filled, observed = grid(seconds, prices)
    return filled, first, observed


def _rows(path: Path) -> tuple[Floats, Floats]:
    """The row reader (price_rows) as arrays of seconds and prices."""
    seconds: list[float] = []
    prices: list[float] = []
    for at, price in price_rows(path):
        seconds.append(at.timestamp())
        prices.append(float(price))
    return np.array(seconds), np.array(prices)


def price_rows(path: Path, *, whole_minutes: bool = False) -> Iterator[tuple[datetime, Decimal]]:
    """Each row's time (UTC) and price, checked: every ISO-8601 form `datetime.fromisoformat`
    takes, a positive decimal price, each time later than the one before, at least one row.
    The first bad row raises CsvError naming its line and the rule. The one CSV reader of
    prices: the backtester's slow path and `kripto history import` (kripto/history.py, which
    asks for whole minutes) both read with it."""
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise CsvError(f"{path}: cannot open it ({exc.strerror})") from None
    last: datetime | None = None
    with handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if header != HEADER:
            raise CsvError(f"{path}: line 1 must be the header `time,price`, not {header}")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 2:
                raise CsvError(f"{path}: line {line} must have two columns: time,price")
            at = _time(row[0].strip(), path, line, whole_minutes)
            price = _price(row[1].strip(), path, line)
            if last is not None and at <= last:
                raise CsvError(f"{path}: line {line} is not later than the line before it")
            last = at
            yield at, price
    if last is None:
        raise CsvError(f"{path}: no prices after the header")


def _time(text: str, path: Path, line: int, whole_minutes: bool) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CsvError(f"{path}: line {line}: time {text!r} is not ISO-8601") from None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if whole_minutes and (at.second or at.microsecond):
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
