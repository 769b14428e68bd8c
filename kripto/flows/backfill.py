"""A backfill's flow (BackfillWorkflow): its input, its chunks and its progress."""

from __future__ import annotations

from pydantic import Field, model_validator

from kripto.models import (
    DEFAULT_PRODUCT,
    ProductId,
    UtcDateTime,
    Wire,
    iso_z,
)


class BackfillInput(Wire):
    """A backfill of one product's one-minute closes over [start, end) (whole minutes).

    `next_start`, `pages_done` and `minutes_stored` carry progress across continue-as-new; a
    fresh backfill leaves them at their defaults."""

    product_id: ProductId = DEFAULT_PRODUCT
    start: UtcDateTime
    end: UtcDateTime
    next_start: UtcDateTime | None = None
    pages_done: int = Field(0, ge=0)
    minutes_stored: int = Field(0, ge=0)
    #: Pages one activity fetches before it reports back (progress shows per chunk).
    pages_per_chunk: int = Field(20, ge=1, le=10_000)
    #: Chunks one run does before it continues as new, so the history stays small.
    chunks_per_run: int = Field(100, ge=1, le=1_000)
    #: A chunk silent for this long is on a dead worker: retried, from its last heartbeat.
    heartbeat_seconds: float = Field(30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _span(self) -> BackfillInput:
        if self.end <= self.start:
            raise ValueError(f"end {iso_z(self.end)} must be after start {iso_z(self.start)}")
        return self


class BackfillChunk(Wire):
    """What one `backfill_chunk` activity is asked to do: pages from `start` towards `end`."""

    product_id: ProductId = DEFAULT_PRODUCT
    start: UtcDateTime
    end: UtcDateTime
    max_pages: int = Field(20, ge=1)


class BackfillChunkResult(Wire):
    next_start: UtcDateTime
    pages: int = 0
    #: Rows newly inserted. A minute that already had a rate (from the live feed, or from an
    #: attempt killed before its heartbeat reached the server) is not inserted again.
    stored: int = 0
    #: Minutes with a candle, each counted once: now stored, by this backfill or before it.
    candles: int = 0


class BackfillProgress(Wire):
    """What the `progress` query answers: enough for a progress bar."""

    product_id: ProductId = DEFAULT_PRODUCT
    start: UtcDateTime
    end: UtcDateTime
    next_start: UtcDateTime
    pages_done: int = 0
    minutes_stored: int = 0
    total_minutes: int = 0
    minutes_done: int = 0
    done: bool = False
