"""Coinbase's public prices, no key needed: every configured product's in pages of
`PAGE_SIZE` (`GET /api/v3/brokerage/market/products?product_ids=A&product_ids=B&limit=N`, which
answers `{"products": [{"product_id", "price", ...}], "num_products"}`), and one product's spot
price (`GET /v2/prices/<PRODUCT>/spot`, what ticks of one product read before the exchange
tick).

The original read the *buy* price, which includes Coinbase's spread; spot is the reference.
A 429 comes in the same shapes as from the trading API (Retry-After, x-ratelimit-reset, or an
HTML page with neither): kripto.ratelimit reads them all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import httpx

from kripto.errors import FeedError, TickTooLate
from kripto.models import Prices, Rate
from kripto.ratelimit import TICK, Limiter, describe_wait, excerpt, retry_after

#: How late a tick may read the spot price for its minute: the schedule starts a tick within a
#: minute of its slot (its catch-up window) and retries its fetch for under a minute.
MAX_LATENESS = timedelta(minutes=2)
#: Product IDs a list-products request asks for: as many as keep the URL (`product_ids=X&`,
#: about 23 bytes each) under 6 KB, below the 8 KB that HTTP front ends commonly accept.
PAGE_SIZE = 250
PRODUCTS_PATH = "/api/v3/brokerage/market/products"


class CoinbaseSpotFeed:
    """The spot price is the price *now*, so it is only read for a tick whose minute is now."""

    def __init__(
        self,
        base_url: str = "https://api.coinbase.com",
        timeout: float = 10.0,
        *,
        page_size: int = PAGE_SIZE,
        limiter: Limiter | None = None,
    ) -> None:
        self.page_size = page_size
        self.limiter = limiter
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
        reply = await public_get(
            self._client, f"/v2/prices/{product_id}/spot", what, limiter=self.limiter
        )
        return Rate(
            product_id=product_id,
            rate=parse_spot_reply(reply.content, product_id),
            date_time=at,
            source="coinbase",
            fetched_at=datetime.now(UTC),
        )

    async def rates(
        self, products: list[str], at: datetime, *, now: datetime | None = None
    ) -> Prices:
        """Every product's price for the tick at `at`: ceil(products / page_size) requests,
        one after the other through the worker's public limiter."""
        what = f"Coinbase prices of {len(products)} products"
        _check_lateness(what, at, now)
        prices: dict[str, Decimal] = {}
        for first in range(0, len(products), self.page_size):
            page = products[first : first + self.page_size]
            params: list[tuple[str, object]] = [("product_ids", p) for p in page]
            params.append(("limit", len(page)))
            reply = await public_get(
                self._client, PRODUCTS_PATH, what, params, limiter=self.limiter
            )
            prices.update(parse_products_reply(reply.content, page, what))
        return Prices(at=at, source="coinbase", prices=prices, fetched_at=datetime.now(UTC))

    async def close(self) -> None:
        await self._client.aclose()


def _check_lateness(what: str, at: datetime, now: datetime | None) -> None:
    late = (now or datetime.now(UTC)) - at
    if late > MAX_LATENESS:
        raise TickTooLate(
            f"{what} at {at:%Y-%m-%dT%H:%M:%SZ}: asked {int(late.total_seconds() // 60)} min"
            " late; a price read now would be stored under the wrong minute, so this"
            " tick is skipped"
        )


def parse_products_reply(body: bytes, page: list[str], what: str) -> dict[str, Decimal]:
    """The price of each product of `page` in a list-products reply, or a FeedError naming the
    product that is missing or has no usable price (a tick stores all of a minute or none)."""
    try:
        rows = json.loads(body)["products"]
        if not isinstance(rows, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        text = " ".join(body[:2000].decode("utf-8", "replace").split())
        shown = text if len(text) <= 80 else text[:79] + "…"
        raise FeedError(f"{what}: the reply is not a list of products: {shown!r}") from None
    found: dict[str, object] = {
        str(r.get("product_id")): r.get("price") for r in rows if isinstance(r, dict)
    }
    prices: dict[str, Decimal] = {}
    for product_id in page:
        if product_id not in found:
            raise FeedError(f"{what}: Coinbase did not list {product_id}")
        given = found[product_id]
        try:
            price = Decimal(str(given)) if isinstance(given, str | int) else None
        except InvalidOperation:
            price = None
        if price is None or not price.is_finite() or price <= 0:
            raise FeedError(f"{what}: {product_id} has price {given!r}, not a positive decimal")
        prices[product_id] = price
    return prices


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
    client: httpx.AsyncClient,
    path: str,
    what: str,
    params: dict[str, object] | list[tuple[str, object]] | None = None,
    *,
    limiter: Limiter | None = None,
    priority: int = TICK,
) -> httpx.Response:
    """A GET on Coinbase's public API that answered 200, or a FeedError saying `what` failed:
    no reply, a dropped connection, or an HTTP error, a 429's wait (Retry-After or
    x-ratelimit-reset) kept for the next attempt and only an excerpt of the body shown.
    `limiter`: the worker's public limiter for Coinbase, which a 429's wait holds for everyone."""
    if limiter is not None:
        await limiter.slot(priority)
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
        if reply.status_code == 429 and limiter is not None:
            limiter.hold(wait)
        raise FeedError(
            f"{what}: HTTP {reply.status_code} {reply.reason_phrase}"
            f"{': ' + said if said else ''}{hint}",
            retry_after=wait,
        )
    return reply
