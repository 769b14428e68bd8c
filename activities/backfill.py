"""The backfill's one activity: page Coinbase's candles into the rates table, heartbeating
where the next page starts, so a retried attempt (a killed worker) resumes there."""

from __future__ import annotations

from temporalio import activity

from activities.errors import temporal_errors
from activities.rates import DATABASE_DOWN
from kripto.db.rates import RateRepository
from kripto.errors import RetryableError
from kripto.feeds.candles import CoinbaseCandles
from kripto.flows.backfill import BackfillChunk, BackfillChunkResult


class BackfillActivities:
    def __init__(self, candles: CoinbaseCandles, rates: RateRepository) -> None:
        self.candles = candles
        self.rates = rates

    @activity.defn
    async def backfill_chunk(self, input: BackfillChunk) -> BackfillChunkResult:
        """Up to `max_pages` pages from `input.start`, or from where the last attempt's
        heartbeat says it had got to. The heartbeat carries that attempt's counts too, so the
        pages it finished are neither fetched nor counted twice."""
        progress = resumed(input, activity.info().heartbeat_details)
        with temporal_errors():
            while progress.next_start < input.end and progress.pages < input.max_pages:
                start = progress.next_start
                page_end = self.candles.page_end(start, input.end)
                rates = await self.candles.page(input.product_id, start, page_end)
                try:
                    stored = await self.rates.insert_many(rates)
                except DATABASE_DOWN as exc:
                    raise RetryableError(f"Postgres unavailable: {type(exc).__name__}") from None
                progress = BackfillChunkResult(
                    next_start=page_end,
                    pages=progress.pages + 1,
                    stored=progress.stored + stored,
                    candles=progress.candles + len(rates),
                )
                activity.heartbeat(progress.to_json_dict())
        return progress


def resumed(input: BackfillChunk, details: object) -> BackfillChunkResult:
    """Where this attempt starts: the last heartbeat of an earlier attempt, or the chunk's start."""
    fresh = BackfillChunkResult(next_start=input.start)
    if not isinstance(details, list | tuple) or not details or not isinstance(details[0], dict):
        return fresh
    try:
        last = BackfillChunkResult.model_validate(details[0])
    except ValueError:
        return fresh
    if not input.start <= last.next_start <= input.end:
        return fresh
    activity.logger.info("backfill resumes at %s", f"{last.next_start:%Y-%m-%dT%H:%M:%SZ}")
    return last
