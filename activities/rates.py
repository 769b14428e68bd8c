"""rate-retriever (`fetch_rates`), rate-writer (`write_rates`) and data-reader (`read_rates`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import temporal_errors
from kripto.db.rates import RateRepository
from kripto.feeds import RateFeed
from kripto.metrics import Metrics
from kripto.models import (
    FetchRatesInput,
    LateTick,
    Prices,
    Rate,
    ReadRatesInput,
    StoreRatesInput,
    StoreRatesResult,
)

#: What asyncpg raises while Postgres is down, starting or shutting down.
DATABASE_DOWN = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


class LateTicks(Protocol):
    """Where a late tick is counted (the worker hands in its process's counters,
    kripto.runtime.tick_stats.TICKS); returns the count for the product so far."""

    def count_late(self, product_id: str) -> int: ...


class RateActivities:
    def __init__(
        self,
        feed: RateFeed,
        rates: RateRepository,
        ticks: LateTicks,
        metrics: Metrics | None = None,
    ) -> None:
        self.feed = feed
        self.rates = rates
        self.metrics = metrics or Metrics.noop()
        self.ticks = ticks

    @activity.defn
    async def report_late_tick(self, input: LateTick) -> int:
        """A tick that started too late for its minute: count it and say so in the log (the
        tick then fails, naming why). Returns this worker's count for the product."""
        count = self.ticks.count_late(input.product_id)
        activity.logger.warning(
            "late tick: %s %s started %.0f s after its slot; skipped (late ticks for it on this"
            " worker: %d)",
            input.product_id,
            f"{input.at:%Y-%m-%dT%H:%M:%SZ}",
            input.late_seconds,
            count,
        )
        return count

    @activity.defn
    async def fetch_rates(self, input: FetchRatesInput) -> Prices:
        """Every product's rate for the exchange tick, in as few requests as the feed allows."""
        try:
            with temporal_errors():
                started = activity.info().started_time
                prices = await self.feed.rates(input.products, input.at, now=started)
        except ApplicationError as err:
            for product in input.products:
                self.metrics.rate_fetch_failed(product, err.type or "ApplicationError")
            raise
        for product in prices.prices:
            self.metrics.rate_fetched(product, str(prices.source))
        return prices

    @activity.defn
    async def write_rates(self, input: StoreRatesInput) -> StoreRatesResult:
        """All of a tick's rates in one insert; a rate already stored keeps its row."""
        prices = input.prices
        try:
            stored = await self.rates.insert_many(prices.rates())
        except DATABASE_DOWN as exc:
            raise ApplicationError(
                f"Postgres unavailable, {len(prices.prices)} rates at"
                f" {prices.at:%Y-%m-%dT%H:%M:%SZ} kept for retry: {type(exc).__name__}",
                type="DatabaseUnavailable",
            ) from None
        return StoreRatesResult(stored=stored)

    @activity.defn
    async def read_rates(self, input: ReadRatesInput) -> list[Rate]:
        end = input.end or activity.info().started_time
        return await self.rates.since(input.product_id, end - timedelta(days=input.days), end)
