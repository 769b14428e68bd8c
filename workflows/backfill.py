"""The price-history backfill: page Coinbase's one-minute candles for a product over a span,
in chunks, continuing as new so that a year's backfill keeps a small history.

Progress lives in the workflow (a query answers it for the CLI's progress bar) and, within a
chunk, in the activity's heartbeat. Its ID names the product and the span, so the same backfill
started twice does the work once. It auto-upgrades: each chunk is idempotent (rates are
inserted ON CONFLICT DO NOTHING), so moving a long backfill to a new build is safe, and it is
never stranded on a build that has been retired."""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy, VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from kripto.flows.backfill import BackfillChunk, BackfillInput, BackfillProgress
    from workflows.inputs import decoded


CHUNK_TIMEOUT = timedelta(minutes=30)
#: 429s (with Retry-After), 5xx and dropped connections: keep trying, backing off.
BACKFILL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
)


#: Task-queue priority of a backfill's chunks: 1 is first, 5 last, 3 the default.
BACKFILL_PRIORITY = Priority(priority_key=5)


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class BackfillWorkflow:
    def __init__(self) -> None:
        self._progress: BackfillProgress | None = None

    @workflow.run
    async def run(self, *args: Any) -> BackfillProgress:
        input = decoded(BackfillInput, args)
        next_start = input.next_start or input.start
        pages, stored = input.pages_done, input.minutes_stored
        self._set(input, next_start, pages, stored)
        for _ in range(input.chunks_per_run):
            if next_start >= input.end or workflow.info().is_continue_as_new_suggested():
                break
            result = await workflow.execute_activity(
                interfaces.backfill_chunk,
                BackfillChunk(
                    product_id=input.product_id,
                    start=next_start,
                    end=input.end,
                    max_pages=input.pages_per_chunk,
                ),
                start_to_close_timeout=CHUNK_TIMEOUT,
                heartbeat_timeout=timedelta(seconds=input.heartbeat_seconds),
                retry_policy=BACKFILL_RETRY,
                # Below the default (3) of everything else on the task queue: a worker busy
                # with a backfill takes an order's or a tick's task first. The Coinbase
                # limiter (kripto/ratelimit.py) gives their requests the same precedence.
                priority=BACKFILL_PRIORITY,
            )
            next_start = result.next_start
            pages, stored = pages + result.pages, stored + result.candles
            self._set(input, next_start, pages, stored)
        if next_start < input.end:
            workflow.continue_as_new(
                input.model_copy(
                    update={"next_start": next_start, "pages_done": pages, "minutes_stored": stored}
                )
            )
        assert self._progress is not None
        return self._progress

    def _set(self, input: BackfillInput, next_start: Any, pages: int, stored: int) -> None:
        total = int((input.end - input.start).total_seconds() // 60)
        done = min(total, int((next_start - input.start).total_seconds() // 60))
        self._progress = BackfillProgress(
            product_id=input.product_id,
            start=input.start,
            end=input.end,
            next_start=next_start,
            pages_done=pages,
            minutes_stored=stored,
            total_minutes=total,
            minutes_done=done,
            done=next_start >= input.end,
        )

    @workflow.query
    def progress(self) -> BackfillProgress | None:
        """Pages done, minutes with a candle stored, and minutes covered out of the total."""
        return self._progress
