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


@dataclass(frozen=True)
class Spaced:
    """A series at its own spacing (`step` seconds apart, oldest first), as read from a file:
    an hourly file stays hourly. A missing slot repeats the price before it, and is counted
    (`gaps`, `longest_gap`) so a report can say so; rows that do not sit on the step (between
    two slots: the later row of a slot stands for it) are counted as `uneven`."""

    prices: Floats
    observed: Mask
    start: datetime
    step: int
    gaps: int
    longest_gap: int
    uneven: int

    @property
    def step_minutes(self) -> int:
        return max(1, self.step // 60)

    def describe(self) -> str:
        """One line: the spacing, the points, and any gaps or uneven rows (never silent)."""
        text = f"{self.prices.size:,} points, {fmt_step(self.step)} apart"
        if self.gaps:
            text += (
                f"; {self.gaps:,} missing {'slot' if self.gaps == 1 else 'slots'} carry the price"
                f" before them (longest gap {fmt_step(self.longest_gap * self.step)})"
            )
        else:
            text += "; no gaps"
        if self.uneven:
            rows = "row" if self.uneven == 1 else "rows"
            text += f"; {self.uneven:,} {rows} off the {fmt_step(self.step)} grid"
        return text


def fmt_step(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def spacing(seconds: Floats) -> int:
    """The series' own step: the most common distance between rows, in whole minutes."""
    if seconds.size < 2:
        return 60
    gaps = np.diff(seconds)
    if gaps[0] > 0 and gaps[0] % 60 == 0 and bool(np.all(gaps == gaps[0])):
        return int(gaps[0])  # evenly spaced: no need to count
    steps = np.round(gaps / 60).astype(np.int64) * 60
    values, counts = np.unique(steps[steps > 0], return_counts=True)
    return int(values[np.argmax(counts)]) if values.size else 60


def regular(seconds: Floats, prices: Floats, step: int | None = None) -> Spaced:
    """Rows (UNIX seconds ascending, prices) on a grid of their own step from the first row."""
    step = step or spacing(seconds)
    if seconds.size > 1 and bool(np.all(np.diff(seconds) == step)):
        # Already on its grid (the usual file): every slot observed, nothing to fill.
        return Spaced(
            prices=prices,
            observed=np.ones(prices.size, dtype=np.bool_),
            start=datetime.fromtimestamp(float(seconds[0]), tz=UTC),
            step=step,
            gaps=0,
            longest_gap=0,
            uneven=0,
        )
    offset = seconds - seconds[0]
    slots = (offset // step).astype(np.int64)
    size = int(slots[-1]) + 1
    last_of_slot = np.searchsorted(slots, np.arange(size), side="right") - 1
    observed = np.zeros(size, dtype=np.bool_)
    observed[slots] = True
    off_grid = int(np.count_nonzero(offset % step))  # times ascend: only these share a slot
    runs = missing_runs(observed)
    return Spaced(
        prices=prices[last_of_slot],
        observed=observed,
        start=datetime.fromtimestamp(float(seconds[0]), tz=UTC),
        step=step,
        gaps=int(size - np.count_nonzero(observed)),
        longest_gap=int(np.max(runs)) if runs.size else 0,
        uneven=off_grid,
    )


def bars(spaced: Spaced, bar_minutes: int) -> Spaced:
    """The series at a coarser step: each bar's last price, bars aligned to whole multiples of
    the bar since the epoch (so minute data and an hourly file give the same hourly closes)."""
    bar = bar_minutes * 60
    if bar <= spaced.step:
        return spaced
    index = np.arange(spaced.prices.size)
    seconds = spaced.start.timestamp() + index * spaced.step
    closes = (seconds % bar) == 0
    if not np.any(closes):
        raise ValueError(f"the series holds no whole {fmt_step(bar)} close")
    return regular(seconds[closes], spaced.prices[closes], bar)
