"""Reading an HTTP 429 (or 5xx) reply from Coinbase: how long to wait, and a short, safe excerpt.

Coinbase does not answer a 429 one way. Seen in the wild (and produced by tests/fakes):
- `Retry-After`, as seconds or as an HTTP date (RFC 9110);
- no `Retry-After` but `x-ratelimit-reset`, which different gateways fill with either a Unix
  time (seconds, sometimes milliseconds) at which the window resets, or the seconds until it
  does. A value that can only be a clock reading (after 2001-09-09) is read as one; a small
  number as seconds to wait;
- neither header, and an HTML page from the edge gateway instead of the JSON error body
  (coinbase-samples/advanced-trade-sdk-go#18).

With no usable header the wait is None, so Temporal's retry policy backs off exponentially.
A wait longer than MAX_WAIT is not believed (a misread clock, or a gateway's daily window):
waiting that long would hold a trade for no reason, so it is cut to MAX_WAIT.
"""

from __future__ import annotations

import asyncio
import heapq
import html
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx

#: The longest wait a header may ask for before we retry anyway.
MAX_WAIT = 300.0
#: Values of x-ratelimit-reset at or above these are clock readings, not durations.
_EPOCH_SECONDS = 1_000_000_000
_EPOCH_MILLISECONDS = 1_000_000_000_000
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HIDDEN = re.compile(r"<(script|style)[^>]*>.*?</\1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def retry_after(headers: httpx.Headers, *, now: float | None = None) -> tuple[float | None, str]:
    """Seconds to wait before the next attempt, and the header it came from ("" if none)."""
    now = time.time() if now is None else now
    value = (headers.get("Retry-After") or "").strip()
    if value:
        wait = _seconds_or_date(value, now)
        if wait is not None:
            return _bounded(wait), "Retry-After"
    value = (headers.get("x-ratelimit-reset") or "").strip()
    if value:
        wait = _reset(value, now)
        if wait is not None:
            return _bounded(wait), "x-ratelimit-reset"
    return None, ""


def _bounded(wait: float) -> float:
    return min(max(0.0, wait), MAX_WAIT)


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None  # no NaN/inf


def _seconds_or_date(value: str, now: float) -> float | None:
    number = _number(value)
    if number is not None:
        return number
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now


def _reset(value: str, now: float) -> float | None:
    number = _number(value)
    if number is None:
        return _seconds_or_date(value, now)  # some gateways send a date here too
    if number >= _EPOCH_MILLISECONDS:
        return number / 1000 - now
    if number >= _EPOCH_SECONDS:
        return number - now
    return number


def excerpt(reply: httpx.Response, limit: int = 120) -> str:
    """What the reply says, in at most `limit` characters of plain text: the JSON error's
    message, an HTML page's title (or its text without tags), or the start of the text. Never
    a whole HTML page in an error message or a log line."""
    text = reply.text
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error_details", "error", "errors"):
            if body.get(key):
                return _cut(_flatten(body[key]), limit)
        return _cut(json.dumps(body), limit)
    if body is not None:
        return _cut(json.dumps(body), limit)
    looks_html = "html" in reply.headers.get("Content-Type", "").lower() or text.lstrip()[:1] == (
        "<"
    )
    if looks_html:
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", _HIDDEN.sub(" ", text))
        text = f"an HTML page: {html.unescape(' '.join(text.split())) or '(no text)'}"
    return _cut(text, limit)


def _flatten(value: object) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        value = value[0].get("message") or value[0].get("id") or value[0]
    return str(value)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_wait(wait: float | None, source: str) -> str:
    """`; retry after 3s (Retry-After)`, or the fallback when the reply said nothing."""
    if wait is None:
        return "; no Retry-After or x-ratelimit-reset, so backing off exponentially"
    return f"; retry after {wait:g}s ({source})"


#: Priorities for `Limiter.slot`: lower goes first. An order never waits behind a backfill.
ORDER, TICK, READ, BACKFILL = 0, 1, 2, 3


class Limiter:
    """At most `per_second` requests a second to one exchange with one key class (Coinbase:
    public 10/s, private 30/s), shared by everything in a worker that calls it: ticks,
    backfills, wallet reads and orders. Each request waits for the next slot; when several
    wait, the lowest priority number goes first (an order before a tick before a backfill).
    A 429's Retry-After (`hold`) stops every caller until it has passed.

    Requests are spaced evenly rather than allowed in bursts: the exchange counts per second,
    and an even pace never crosses its line."""

    def __init__(
        self, name: str, per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_second <= 0:
            raise ValueError(f"{name}: per_second must be above 0, not {per_second}")
        self.name = name
        self.interval = 1.0 / per_second
        self.clock = clock
        self._next = 0.0
        self._held_until = 0.0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._wake: asyncio.TimerHandle | None = None
        #: Requests let through, per priority (for tests and benchmarks).
        self.granted: Counter[int] = Counter()

    async def slot(self, priority: int = TICK) -> None:
        """Wait for this request's turn."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        self._dispatch()
        try:
            await future
        except asyncio.CancelledError:
            if not future.done() or future.cancelled():
                self._waiting = [w for w in self._waiting if w[2] is not future]
                heapq.heapify(self._waiting)
            raise
        self.granted[priority] += 1

    def hold(self, seconds: float | None) -> None:
        """The exchange said to wait (Retry-After): nobody goes before then."""
        if seconds:
            self._held_until = max(self._held_until, self.clock() + seconds)

    def _dispatch(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        while self._waiting:
            now = self.clock()
            ready_at = max(self._next, self._held_until)
            if ready_at > now:
                loop = asyncio.get_running_loop()
                self._wake = loop.call_later(ready_at - now, self._dispatch)
                return
            _, _, future = heapq.heappop(self._waiting)
            if future.done():
                continue
            future.set_result(None)
            self._next = max(now, self._next) + self.interval


@dataclass
class RateLimits:
    """One limiter per exchange and key class for the whole worker process."""

    public: Limiter
    private: Limiter

    @classmethod
    def coinbase(
        cls, public_per_second: float = 8.0, private_per_second: float = 25.0
    ) -> RateLimits:
        """Under Coinbase's limits (10/s public, 30/s private) with room for a retry."""
        return cls(
            public=Limiter("coinbase public", public_per_second),
            private=Limiter("coinbase private", private_per_second),
        )
