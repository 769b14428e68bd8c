"""How long a 429 asks us to wait, from each header shape Coinbase's gateways send."""

from __future__ import annotations

import httpx
import pytest

from kripto.ratelimit import MAX_WAIT, excerpt, retry_after

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
