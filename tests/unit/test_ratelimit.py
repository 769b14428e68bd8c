"""How long a 429 asks us to wait, from each header shape Coinbase's gateways send."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kripto.ratelimit import (
    BACKFILL,
    MAX_WAIT,
    ORDER,
    READ,
    TICK,
    Limiter,
    excerpt,
    retry_after,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, (3.0, "Retry-After")),
        ({"Retry-After": "3", "x-ratelimit-reset": "9"}, (3.0, "Retry-After")),
        ({"x-ratelimit-reset": "9"}, (9.0, "x-ratelimit-reset")),
        ({"x-ratelimit-reset": str(int(NOW) + 12)}, (12.0, "x-ratelimit-reset")),
        ({"x-ratelimit-reset": str(int(NOW * 1000) + 1500)}, (1.5, "x-ratelimit-reset")),
        ({"x-ratelimit-reset": str(int(NOW) - 5)}, (0.0, "x-ratelimit-reset")),  # passed
        ({"x-ratelimit-reset": str(int(NOW) + 86_400)}, (MAX_WAIT, "x-ratelimit-reset")),
        ({"Retry-After": "soon", "x-ratelimit-reset": "2"}, (2.0, "x-ratelimit-reset")),
        ({"Retry-After": "NaN"}, (None, "")),
        ({"x-ratelimit-reset": "later"}, (None, "")),
        ({}, (None, "")),
    ],
)
def test_the_wait_comes_from_the_first_usable_header(
    headers: dict[str, str], expected: tuple[float | None, str]
) -> None:
    assert retry_after(httpx.Headers(headers), now=NOW) == expected


def test_an_excerpt_never_carries_a_page_of_markup() -> None:
    page = "<html><head><style>p{}</style></head><body><p>Rate   limited</p>" + "z" * 5000
    reply = httpx.Response(429, text=page, headers={"Content-Type": "text/html"})
    assert excerpt(reply, 40) == "an HTML page: Rate limited zzzzzzzzzzzz…"
    assert excerpt(httpx.Response(429, json={"errors": [{"id": "rate_limit_exceeded"}]})) == (
        "rate_limit_exceeded"
    )
    assert excerpt(httpx.Response(429, text="")) == ""


async def test_the_limiter_lets_an_order_go_before_ticks_and_backfills_that_waited_longer() -> None:
    """One worker's requests to one key class share a limiter: while a request holds the
    slot, the waiting ones go by priority (an order first, a backfill last), each kind in the
    order it came."""
    limiter = Limiter("coinbase public", per_second=50)
    granted: list[str] = []

    async def request(name: str, priority: int) -> None:
        await limiter.slot(priority)
        granted.append(name)

    await request("first", TICK)  # takes the slot: the rest must wait for the next one
    waiting = [
        asyncio.ensure_future(request(name, priority))
        for name, priority in [
            ("backfill 1", BACKFILL),
            ("tick", TICK),
            ("backfill 2", BACKFILL),
            ("wallet", READ),
            ("order", ORDER),
        ]
    ]
    await asyncio.gather(*waiting)
    assert granted == ["first", "order", "tick", "wallet", "backfill 1", "backfill 2"]
    assert dict(limiter.granted) == {TICK: 2, ORDER: 1, READ: 1, BACKFILL: 2}


async def test_a_retry_after_holds_the_limiter_until_it_has_passed() -> None:
    now = [100.0]
    limiter = Limiter("coinbase private", per_second=1000, clock=lambda: now[0])
    limiter.hold(3.0)
    waiting = asyncio.ensure_future(limiter.slot(ORDER))
    await asyncio.sleep(0)
    limiter._dispatch()
    assert not waiting.done()  # even an order waits out the exchange's Retry-After
    now[0] = 103.0
    limiter._dispatch()
    await waiting
    assert limiter.granted[ORDER] == 1
    limiter.hold(None)  # a 429 that said nothing: the retry policy's backoff decides
    now[0] = 104.0
    await limiter.slot(ORDER)


def test_a_limiter_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="coinbase public: per_second must be above 0, not 0"):
        Limiter("coinbase public", per_second=0)
