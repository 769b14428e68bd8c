"""`kripto dev`'s cold start: a week of simulated history that runs up to the first tick's
minute, so no minute between the backfill and the live feed is missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, cast

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.devstack.coldstart import backfill_week, fill_to_first_tick
from kripto.settings import Settings


async def test_the_week_ends_with_the_minute_before_the_first_tick(db: Database) -> None:
    now = datetime.now(UTC)
    first_tick = now.replace(second=0, microsecond=0) + timedelta(minutes=2)
    settings = Settings(_env_file=None, products=["BTC-GBP"])
    said = await backfill_week(cast(Any, None), db, settings, "simulated")
    assert said == "a week backfilled from the simulated feed (10,080 new minutes, `simulated`)"
    # The schedule's first tick is two minutes on: the minutes up to it are filled in too.
    filled = await fill_to_first_tick(cast(Any, None), db, settings, "simulated", now, first_tick)
    assert filled == 2
    latest = await RateRepository(db).latest("BTC-GBP")
    assert latest is not None
    # The first tick stores its own minute; the backfill has every minute before it.
    assert latest.date_time == first_tick - timedelta(minutes=1)
    assert latest.fetched_at is None  # history, not a live read
    rows = await RateRepository(db).since("BTC-GBP", first_tick - timedelta(days=7))
    minutes = [r.date_time for r in rows]
    assert len(minutes) == 10_080  # every minute of the week before the first tick
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(minutes))
