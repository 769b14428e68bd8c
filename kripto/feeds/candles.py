"""Coinbase's public one-minute candles: the history a backfill stores.

`GET /api/v3/brokerage/market/products/<PRODUCT>/candles?start=&end=&granularity=ONE_MINUTE`
answers `{"candles": [{"start": "<unix>", "low", "high", "open", "close", "volume"}, …]}`, newest
first, at most 350 rows a request, and no row for a minute without trades (a gap stays a gap:
nothing is invented for it). Each minute's close becomes a rate marked `coinbase-candles`.

The public API allows about 10 requests a second; a client-side pace keeps under it, so a year
(1,752 pages of 300) takes minutes rather than a storm of 429s. A 429 that comes anyway, a 5xx
or a dropped connection is a retryable FeedError carrying the server's Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import httpx

from kripto.errors import FeedError
from kripto.feeds.coinbase import public_get
from kripto.models import Rate
from kripto.ratelimit import BACKFILL, Limiter

#: Coinbase answers at most this many candles a request.
MAX_PAGE_MINUTES = 350
CANDLES_PATH = "/api/v3/brokerage/market/products/{product}/candles"


class Pace:
    """At most `per_second` calls a second from this process: each call waits for its slot."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval


class CoinbaseCandles:
    """One page of one-minute closes at a time, paced to the public rate limit."""

    def __init__(
        self,
        base_url: str = "https://api.coinbase.com",
        *,
        timeout: float = 10.0,
        requests_per_second: float = 5.0,
        page_minutes: int = 300,
        limiter: Limiter | None = None,
    ) -> None:
        """`limiter`: the worker's public limiter for Coinbase, shared with the ticks (which go
        first); the pace keeps a backfill to its own share of it."""
        self.limiter = limiter
        self.page_minutes = page_minutes
        self.pace = Pace(requests_per_second)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"Accept": "application/json", "User-Agent": "kripto"},
        )

    def page_end(self, start: datetime, end: datetime) -> datetime:
        return min(start + timedelta(minutes=self.page_minutes), end)

    async def page(self, product_id: str, start: datetime, end: datetime) -> list[Rate]:
        """The closes of the minutes in [start, end) that had trades, oldest first."""
        first, stop = int(start.timestamp()), int(end.timestamp())
        what = f"Coinbase candles for {product_id} from {start:%Y-%m-%dT%H:%M:%SZ}"
        await self.pace.wait()
        reply = await public_get(
            self._client,
            CANDLES_PATH.format(product=product_id),
            what,
            # Coinbase's `end` is inclusive: ask up to the last minute of the page.
            params={"start": first, "end": stop - 60, "granularity": "ONE_MINUTE"},
            limiter=self.limiter,
            priority=BACKFILL,
        )
        return parse_candles(reply.content, product_id, first, stop, what)

    async def close(self) -> None:
        await self._client.aclose()


def parse_candles(body: bytes, product_id: str, first: int, stop: int, what: str) -> list[Rate]:
    """The rows of a candles reply inside [first, stop) as rates, oldest first; a row outside
    the page is ignored (the next page has it), a malformed one is a FeedError naming it."""
    try:
        rows = json.loads(body)["candles"]
        if not isinstance(rows, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        text = " ".join(body[:2000].decode("utf-8", "replace").split())
        shown = text if len(text) <= 80 else text[:79] + "…"
        raise FeedError(f"{what}: the reply is not a list of candles: {shown!r}") from None
    rates: dict[int, Rate] = {}
    for row in rows:
        try:
            second = int(row["start"])
            close = Decimal(str(row["close"]))
        except (KeyError, TypeError, ValueError, InvalidOperation):
            raise FeedError(f"{what}: a candle without a start and a close: {row!r}") from None
        if not close.is_finite() or close <= 0:
            raise FeedError(f"{what}: the candle at {second} has close {row['close']!r}")
        if first <= second < stop and second % 60 == 0:
            rates[second] = Rate(
                product_id=product_id,
                rate=close,
                date_time=datetime.fromtimestamp(second, UTC),
                source="coinbase-candles",
            )
    return [rates[s] for s in sorted(rates)]
