"""`kripto dev` on a fresh data folder: a week of history before the first tick, so a new user
sees a real decision (with its reason) within minutes rather than after the strategy's window
fills minute by minute.

From Coinbase's candles (a BackfillWorkflow on the worker just started) when Coinbase answers;
otherwise from the simulated feed, deterministically (the same seed gives the same prices as
its live ticks), every rate marked `simulated`. Minutes already stored are kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Literal

from temporalio.client import Client

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.feeds.simulated import SimulatedFeed
from kripto.models import BackfillInput, Rate
from kripto.runtime.backfill import start_backfill
from kripto.settings import Settings

WEEK = timedelta(days=7)
#: How long `kripto dev` waits for the Coinbase backfill before it starts ticking anyway (the
#: backfill runs on; at 5 requests a second a week is about 7 s).
BACKFILL_WAIT = timedelta(seconds=90)


def week_before(now: datetime) -> tuple[datetime, datetime]:
    end = now.astimezone(UTC).replace(second=0, microsecond=0)
    return end - WEEK, end


async def simulated_week(db: Database, settings: Settings, now: datetime) -> int:
    """A week of the simulated feed's minutes for each product; returns how many were new."""
    return await simulated_span(db, settings, *week_before(now))


async def simulated_span(db: Database, settings: Settings, start: datetime, end: datetime) -> int:
    """The simulated feed's minutes in [start, end) for each product; how many were new."""
    feed = SimulatedFeed(seed=settings.exchange.feed_seed)
    minutes = [
        start + timedelta(minutes=i) for i in range(int((end - start).total_seconds() // 60))
    ]
    stored = 0
    for product in settings.general.products:
        rates = [
            Rate(
                product_id=product,
                rate=feed.price_at(product, at),
                date_time=at,
                source="simulated",
            )
            for at in minutes
        ]
        stored += await RateRepository(db).insert_many(rates)
    return stored


async def coinbase_week(client: Client, settings: Settings, now: datetime) -> int:
    """Backfill the week from Coinbase's candles for each product, waiting up to BACKFILL_WAIT;
    returns the minutes with a candle."""
    return await coinbase_span(client, settings, *week_before(now))


async def coinbase_span(client: Client, settings: Settings, start: datetime, end: datetime) -> int:
    """Coinbase's candles in [start, end) for each product (a BackfillWorkflow each)."""
    handles = [
        await start_backfill(
            client, settings, BackfillInput(product_id=product, start=start, end=end)
        )
        for product in settings.general.products
    ]
    async with asyncio.timeout(BACKFILL_WAIT.total_seconds()):
        results = [await handle.result() for handle in handles]
    return sum(r.minutes_stored for r in results)


async def backfill_week(
    client: Client, db: Database, settings: Settings, feed: Literal["coinbase", "simulated"]
) -> str:
    """The banner's History line."""
    now = datetime.now(UTC)
    if feed == "simulated":
        stored = await simulated_week(db, settings, now)
        return f"a week backfilled from the simulated feed ({stored:,} new minutes, `simulated`)"
    try:
        minutes = await coinbase_week(client, settings, now)
    except TimeoutError:
        return (
            "backfilling a week from Coinbase candles (still running: `kripto history"
            " backfill --days 7` shows it)"
        )
    return f"a week backfilled from Coinbase candles ({minutes:,} minutes with trades)"


async def fill_to_first_tick(
    client: Client,
    db: Database,
    settings: Settings,
    feed: Literal["coinbase", "simulated"],
    backfilled_to: datetime,
    first_tick: datetime | None,
) -> int:
    """The minutes between the week's backfill (which ends with the minute before
    `backfilled_to`) and the first tick's minute, which the live feed stores: without them
    the history would start with a gap. Returns how many were stored."""
    start = backfilled_to.astimezone(UTC).replace(second=0, microsecond=0)
    if first_tick is None:
        return 0
    end = first_tick.astimezone(UTC).replace(second=0, microsecond=0)
    if end <= start:
        return 0
    if feed == "simulated":
        return await simulated_span(db, settings, start, end)
    try:
        return await coinbase_span(client, settings, start, end)
    except TimeoutError:
        return 0
