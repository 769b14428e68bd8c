"""Coinbase's public spot price: `GET /v2/prices/<PRODUCT>/spot`, no key needed.

The original read the *buy* price, which includes Coinbase's spread; spot is the reference.
A 429 comes in the same shapes as from the trading API (Retry-After, x-ratelimit-reset, or an
HTML page with neither): kripto.ratelimit reads them all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import httpx

from kripto.errors import FeedError, TickTooLate
from kripto.models import Rate
from kripto.ratelimit import describe_wait, excerpt, retry_after

#: How late a tick may read the spot price for its minute: the schedule starts a tick within a
#: minute of its slot (its catch-up window) and retries its fetch for under a minute.
MAX_LATENESS = timedelta(minutes=2)


class CoinbaseSpotFeed:
    """The spot price is the price *now*, so it is only read for a tick whose minute is now."""

    def __init__(self, base_url: str = "https://api.coinbase.com", timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"Accept": "application/json", "User-Agent": "kripto"},
        )

    async def rate(self, product_id: str, at: datetime, *, now: datetime | None = None) -> Rate:
        what = f"Coinbase spot price for {product_id}"
        late = (now or datetime.now(UTC)) - at
        if late > MAX_LATENESS:
            raise TickTooLate(
                f"{what} at {at:%Y-%m-%dT%H:%M:%SZ}: asked {int(late.total_seconds() // 60)} min"
                " late; a spot price read now would be stored under the wrong minute, so this"
                " tick is skipped"
            )
        reply = await public_get(self._client, f"/v2/prices/{product_id}/spot", what)
        return Rate(
            product_id=product_id,
            rate=parse_spot_reply(reply.content, product_id),
            date_time=at,
            source="coinbase",
        )

    async def close(self) -> None:
        await self._client.aclose()


def parse_spot_reply(body: bytes, product_id: str) -> Decimal:
    """The price in `{"data": {"base", "currency", "amount"}}`, or a FeedError saying why not."""

    what = f"Coinbase spot price for {product_id}"
    try:
        data = json.loads(body)["data"]
        amount_text = data["amount"]
    except (ValueError, KeyError, TypeError):
        text = " ".join(body[:2000].decode("utf-8", "replace").split())
        shown = text if len(text) <= 80 else text[:79] + "…"
        raise FeedError(f"{what}: the reply is not a spot price: {shown!r}") from None
    base, _, quote = product_id.partition("-")
    if data.get("base", base) != base or data.get("currency", quote) != quote:
        raise FeedError(
            f"{what}: the reply is for {data.get('base')}-{data.get('currency')}, not {product_id}"
        )
    if not isinstance(amount_text, str | int):
        raise FeedError(f"{what}: amount {amount_text!r} is not a decimal string")
    try:
        amount = Decimal(str(amount_text))
    except InvalidOperation:
        raise FeedError(f"{what}: amount {amount_text!r} is not a decimal number") from None
    if not amount.is_finite() or amount <= 0:
        raise FeedError(f"{what}: amount {amount_text!r} is not a positive price")
    return amount


async def public_get(
    client: httpx.AsyncClient, path: str, what: str, params: dict[str, object] | None = None
) -> httpx.Response:
    """A GET on Coinbase's public API that answered 200, or a FeedError saying `what` failed:
    no reply, a dropped connection, or an HTTP error, a 429's wait (Retry-After or
    x-ratelimit-reset) kept for the next attempt and only an excerpt of the body shown."""
    try:
        reply = await client.get(path, params=params)  # type: ignore[arg-type]
    except httpx.TimeoutException as exc:
        raise FeedError(f"{what}: no reply in time ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise FeedError(f"{what}: {type(exc).__name__}: {exc}") from None
    if reply.status_code != 200:
        wait, source = retry_after(reply.headers)
        said = excerpt(reply, 80)
        hint = describe_wait(wait, source) if reply.status_code == 429 else ""
        raise FeedError(
            f"{what}: HTTP {reply.status_code} {reply.reason_phrase}"
            f"{': ' + said if said else ''}{hint}",
            retry_after=wait,
        )
    return reply
