"""Rates (time, Decimal) onto a regular one-minute grid, oldest first, gaps forward-filled, so a
missing minute never shifts a window and a strategy's spans stay spans of minutes.

Filled minutes are not observations: the grid keeps which minutes had a rate of their own, so a
decision can refuse a window that is mostly filled-in (two rates a week apart are not a week of
history)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from kripto.models import Rate
from kripto.strategies.indicators import Floats

Mask = NDArray[np.bool_]


@dataclass(frozen=True)
class MinuteSeries:
    prices: Floats  # one per minute, oldest first
    observed: Mask  # True where the minute had a rate of its own
    newest: datetime | None  # the time of the newest rate


def minute_grid(rates: Sequence[Rate]) -> MinuteSeries:
    """Prices per minute from the first rate's minute to the last one's; the last rate of a
    minute stands for it."""
    if not rates:
        return MinuteSeries(np.empty(0), np.empty(0, dtype=np.bool_), None)
    ordered = sorted(rates, key=lambda r: r.date_time)
    seconds = np.array([r.date_time.timestamp() for r in ordered], dtype=np.float64)
    prices = np.array([float(r.rate) for r in ordered], dtype=np.float64)
    filled, observed = grid(seconds, prices)
    return MinuteSeries(filled, observed, ordered[-1].date_time)


@dataclass(frozen=True)
class PriceHistory:
    """A product's rates as arrays, as the decider reads them straight from Postgres: UNIX
    seconds and float prices (ascending, one per stored rate) for the indicators only, and the
    newest rate's own Decimal for the money arithmetic. Building a pydantic `Rate` per row cost
    a week's decision ~50 ms; these arrays cost well under one."""

    seconds: Floats
    prices: Floats
    newest_time: datetime | None
    newest_rate: Decimal | None

    @classmethod
    def of(cls, rates: Sequence[Rate]) -> PriceHistory:
        ordered = sorted(rates, key=lambda r: r.date_time)
        return cls(
            np.array([r.date_time.timestamp() for r in ordered], dtype=np.float64),
            np.array([float(r.rate) for r in ordered], dtype=np.float64),
            ordered[-1].date_time if ordered else None,
            ordered[-1].rate if ordered else None,
        )

    def __len__(self) -> int:
        return int(self.seconds.size)

    def with_newer(self, rate: Rate) -> PriceHistory:
        """The history with `rate` appended when it is newer than the newest stored one (the
        tick's own rate, whose store child may not have written it yet)."""
        if self.newest_time is not None and rate.date_time <= self.newest_time:
            return self
        return PriceHistory(
            np.append(self.seconds, rate.date_time.timestamp()),
            np.append(self.prices, float(rate.rate)),
            rate.date_time.astimezone(UTC),
            rate.rate,
        )

    def minute_grid(self) -> MinuteSeries:
        if self.newest_time is None or not self.seconds.size:
            return MinuteSeries(np.empty(0), np.empty(0, dtype=np.bool_), None)
        filled, observed = grid(self.seconds, self.prices)
        return MinuteSeries(filled, observed, self.newest_time)


def grid(seconds: Floats, prices: Floats) -> tuple[Floats, Mask]:
    """The same for arrays of UNIX seconds (ascending) and prices: the prices per minute, and
    which minutes were observed."""
    minutes = (seconds // 60).astype(np.int64)
    slots = minutes - minutes[0]
    size = int(slots[-1]) + 1
    # For each minute, the index of the last rate at or before its end.
    last_of_slot = np.searchsorted(slots, np.arange(size), side="right") - 1
    observed = np.zeros(size, dtype=np.bool_)
    observed[slots] = True
    return prices[last_of_slot], observed


def missing_runs(observed: Mask) -> NDArray[np.int64]:
    """For each minute, how many minutes in a row up to it had no rate (0 where it had one)."""
    index = np.arange(observed.size)
    last_seen = np.maximum.accumulate(np.where(observed, index, -1))
    runs: NDArray[np.int64] = index - last_seen
    return runs


def gap_blocked(observed: Mask, window: int, max_gap: int) -> Mask:
    """For each minute, whether the `window` minutes up to it hold a run of more than `max_gap`
    minutes without rates: a window that is mostly forward-filled is no basis for a signal."""
    index = np.arange(observed.size)
    too_long = missing_runs(observed) > max_gap
    last_too_long = np.maximum.accumulate(np.where(too_long, index, -1))
    blocked: Mask = last_too_long > index - window
    return blocked


def longest_gap(observed: Mask, window: int) -> int:
    """The longest run of minutes without rates among the last `window` minutes."""
    tail = missing_runs(observed)[-window:]
    return int(np.max(tail)) if tail.size else 0
