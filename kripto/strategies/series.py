"""Rates (time, Decimal) onto a regular one-minute grid, oldest first, gaps forward-filled, so a
missing minute never shifts a window and a strategy's spans stay spans of minutes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from kripto.models import Rate
from kripto.strategies.indicators import Floats


def minute_grid(rates: Sequence[Rate]) -> tuple[Floats, datetime | None]:
    """Prices per minute from the first rate's minute to the last one's; the last rate of a
    minute stands for it. Returns the prices and the time of the newest rate."""
    if not rates:
        return np.empty(0), None
    ordered = sorted(rates, key=lambda r: r.date_time)
    seconds = np.array([r.date_time.timestamp() for r in ordered], dtype=np.float64)
    prices = np.array([float(r.rate) for r in ordered], dtype=np.float64)
    return grid(seconds, prices), ordered[-1].date_time


def grid(seconds: Floats, prices: Floats) -> Floats:
    """The same for arrays of UNIX seconds (ascending) and prices."""
    minutes = (seconds // 60).astype(np.int64)
    slots = minutes - minutes[0]
    size = int(slots[-1]) + 1
    # For each minute, the index of the last rate at or before its end.
    last_of_slot = np.searchsorted(slots, np.arange(size), side="right") - 1
    return prices[last_of_slot]
