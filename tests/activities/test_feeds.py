import asyncio
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kripto.errors import FeedError, NonRetryableError
from kripto.feeds import CoinbaseSpotFeed, SimulatedFeed
from kripto.feeds.coinbase import PAGE_SIZE
from kripto.ratelimit import BACKFILL, TICK, RateLimits
from tests.fakes.coinbase_fixtures import FakeCoinbase
from tests.fakes.spot_server import Reply, SpotServer


def this_minute() -> datetime:
    """A tick of the minute the test runs in: the spot price is only read for such a tick."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def test_coinbase_spot_price_is_an_exact_decimal(spot_server: SpotServer) -> None:
    feed = CoinbaseSpotFeed(spot_server.url, timeout=2)
    at = this_minute()
    rate = await feed.rate("BTC-GBP", at)
    await feed.close()
    assert rate.rate == Decimal("8012.92")
    assert rate.date_time == at
    assert rate.source == "coinbase"
    assert spot_server.requests == ["/v2/prices/BTC-GBP/spot"]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(status=503), "HTTP 503"),
        (Reply(status=429, headers=(("Retry-After", "7"),)), "HTTP 429"),
        (Reply(body=b"<html>oops</html>"), "is not a spot price"),
        (Reply(body=b'{"data": {"amount": "abc"}}'), "'abc' is not a decimal number"),
        (Reply(body=b'{"data": {"amount": "-5.00"}}'), "'-5.00' is not a positive price"),
        (Reply(body=b'{"data": {"amount": "NaN"}}'), "'NaN' is not a positive price"),
        (Reply(body=b'{"data": {"amount": 8000.5}}'), "8000.5 is not a decimal string"),
        (
            Reply(body=b'{"data": {"base": "ETH", "currency": "GBP", "amount": "1.00"}}'),
            "is for ETH-GBP, not BTC-GBP",
        ),
        (Reply(delay=1.5), "no reply in time"),
    ],
)
async def test_coinbase_faults_are_readable_retryable_errors(
    spot_server: SpotServer, reply: Reply, message: str
) -> None:
    spot_server.fail_next(reply)
    feed = CoinbaseSpotFeed(spot_server.url, timeout=0.5)
    with pytest.raises(FeedError) as caught:
        await feed.rate("BTC-GBP", this_minute())
    await feed.close()
    assert message in str(caught.value)
    assert str(caught.value).startswith("Coinbase spot price for BTC-GBP")
    if reply.status == 429:
        assert caught.value.retry_after == 7.0


HTML_429 = (
    b"<!DOCTYPE html><html><head><title>Coinbase | Too Many Requests</title>"
    b"<script>var x = 1;</script></head><body><h1>Slow down</h1>" + b"y" * 3000 + b"</body></html>"
)


@pytest.mark.parametrize(
    ("reply", "wait", "tail"),
    [
        (
            Reply(status=429, headers=(("x-ratelimit-reset", "4"),)),
            4.0,
            "; retry after 4s (x-ratelimit-reset)",
        ),
        (
            Reply(status=429, headers=(("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),)),
            0.0,  # a date in the past: retry now
            "; retry after 0s (Retry-After)",
        ),
        (
            Reply(status=429, body=HTML_429, content_type="text/html"),
            None,
            ": an HTML page: Coinbase | Too Many Requests; no Retry-After or"
            " x-ratelimit-reset, so backing off exponentially",
        ),
    ],
    ids=["reset-seconds", "retry-after-date", "html-no-header"],
)
async def test_each_shape_of_429_from_the_spot_api_backs_off_as_it_says(
    spot_server: SpotServer, reply: Reply, wait: float | None, tail: str
) -> None:
    spot_server.fail_next(reply)
    feed = CoinbaseSpotFeed(spot_server.url, timeout=2)
    try:
        with pytest.raises(FeedError) as caught:
            await feed.rate("BTC-GBP", this_minute())
        message = str(caught.value)
        assert message.startswith("Coinbase spot price for BTC-GBP: HTTP 429 Too Many Requests")
        assert message.endswith(tail)
        assert caught.value.retry_after == wait
        assert "<" not in message and "yyyy" not in message
        # the next attempt, as Temporal's retry makes it, reads the price
        assert (await feed.rate("BTC-GBP", this_minute())).rate == Decimal("8012.92")
    finally:
        await feed.close()


async def test_an_epoch_x_ratelimit_reset_is_read_as_a_time_not_a_duration(
    spot_server: SpotServer,
) -> None:
    reset = int(datetime.now(UTC).timestamp()) + 20
    spot_server.fail_next(Reply(status=429, headers=(("x-ratelimit-reset", str(reset)),)))
    feed = CoinbaseSpotFeed(spot_server.url, timeout=2)
    try:
        with pytest.raises(FeedError) as caught:
            await feed.rate("BTC-GBP", this_minute())
    finally:
        await feed.close()
    assert caught.value.retry_after is not None
    assert 15.0 <= caught.value.retry_after <= 20.0


async def test_coinbase_unreachable_is_a_feed_error() -> None:
    feed = CoinbaseSpotFeed("http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(FeedError, match="ConnectError"):
        await feed.rate("BTC-GBP", this_minute())
    await feed.close()


async def test_simulated_feed_is_deterministic_per_seed_and_time() -> None:
    a, b, c = SimulatedFeed(seed=1), SimulatedFeed(seed=1), SimulatedFeed(seed=2)
    at = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # any time: the simulated feed has history
    first = await a.rate("BTC-GBP", at)
    again = await b.rate("BTC-GBP", at)
    # The same price for the same minute; only when it was read differs.
    assert first.model_copy(update={"fetched_at": None}) == again.model_copy(
        update={"fetched_at": None}
    )
    assert first.fetched_at is not None and again.fetched_at is not None
    assert first.fetched_at <= again.fetched_at
    assert first.source == "simulated"
    assert first.rate != (await c.rate("BTC-GBP", at)).rate
    assert first.rate == first.rate.quantize(Decimal("0.01"))
    assert Decimal("40000") < first.rate < Decimal("80000")


async def test_a_tick_too_late_for_its_minute_reads_no_spot_price(spot_server: SpotServer) -> None:
    """The spot price is the price now: read ten minutes after its tick, it would be misdated."""
    feed = CoinbaseSpotFeed(spot_server.url, timeout=2)
    try:
        with pytest.raises(NonRetryableError) as caught:
            await feed.rate("BTC-GBP", this_minute() - timedelta(minutes=10))
    finally:
        await feed.close()
    assert "asked 10 min late" in str(caught.value)
    assert "stored under the wrong minute" in str(caught.value)
    assert spot_server.requests == []


async def test_every_price_of_a_tick_comes_in_pages_of_product_ids(
    fake_coinbase: FakeCoinbase,
) -> None:
    """600 markets: ceil(600 / 250) = 3 public requests, each naming its products, and every
    price an exact Decimal; the simulated feed answers the same list in one call."""
    products = [f"P{i:03d}-GBP" for i in range(600)]
    fake_coinbase.server.price_all = True
    fake_coinbase.set_price("8012.92", "P007-GBP")
    limits = RateLimits.coinbase()
    feed = CoinbaseSpotFeed(fake_coinbase.url, timeout=2, limiter=limits.public)
    at = this_minute()
    try:
        prices = await feed.rates(products, at)
    finally:
        await feed.close()
    assert fake_coinbase.server.price_requests() == 3 == math.ceil(len(products) / PAGE_SIZE)
    assert limits.public.granted[TICK] == 3
    assert (prices.at, prices.source, list(prices.prices)) == (at, "coinbase", products)
    assert prices.prices["P007-GBP"] == Decimal("8012.92")
    assert prices.prices["P123-GBP"] == fake_coinbase.server._price_of("P123-GBP")
    simulated = await SimulatedFeed().rates(products, at)
    assert list(simulated.prices) == products and simulated.source == "simulated"


async def test_a_product_missing_from_the_page_fails_the_whole_minute(
    fake_coinbase: FakeCoinbase,
) -> None:
    fake_coinbase.set_price("2000.00", "ETH-GBP")
    feed = CoinbaseSpotFeed(fake_coinbase.url, timeout=2)
    try:
        with pytest.raises(FeedError) as raised:
            await feed.rates(["BTC-GBP", "ETH-GBP", "NOPE-GBP"], this_minute())
    finally:
        await feed.close()
    assert str(raised.value) == "Coinbase prices of 3 products: Coinbase did not list NOPE-GBP"


async def test_a_429_on_the_prices_holds_every_caller_of_the_public_limiter(
    fake_coinbase: FakeCoinbase,
) -> None:
    fake_coinbase.inject({"kind": "429", "retry_after": 30})
    limits = RateLimits.coinbase()
    feed = CoinbaseSpotFeed(fake_coinbase.url, timeout=2, limiter=limits.public)
    try:
        with pytest.raises(FeedError) as raised:
            await feed.rates(["BTC-GBP"], this_minute())
    finally:
        await feed.close()
    assert raised.value.retry_after == 30
    assert "retry after 30s (Retry-After)" in str(raised.value)
    # The backfill's next page waits out the same Retry-After: nobody goes first.
    waiting = asyncio.ensure_future(limits.public.slot(BACKFILL))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    waiting.cancel()


def test_the_simulated_price_walks_within_a_minute_so_maker_orders_fill_or_fall_back() -> None:
    """At a whole minute the price is the minute's rate (what a tick stores); within it the
    price walks, the same for the same seed. A maker buy resting 0.01% below the price fills in
    full, in part, or not at all within a 2-minute window: each happens on the dev stack."""
    feed, again = SimulatedFeed(seed=42), SimulatedFeed(seed=42)
    t0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    seconds = [feed.price_at("BTC-GBP", t0 + timedelta(seconds=s)) for s in range(61)]
    assert seconds == [again.price_at("BTC-GBP", t0 + timedelta(seconds=s)) for s in range(61)]
    assert len(set(seconds[:60])) > 30  # it moves within the minute
    assert seconds[60] == feed.price_at("BTC-GBP", t0 + timedelta(minutes=1))
    outcomes = {"full": 0, "part": 0, "none": 0}
    for i in range(40):
        start = t0 + timedelta(minutes=i, seconds=7)
        limit = (feed.price_at("BTC-GBP", start) * Decimal("0.9999")).quantize(Decimal("0.01"))
        through = max(
            limit - feed.price_at("BTC-GBP", start + timedelta(seconds=s)) for s in range(1, 121)
        )
        kind = "full" if through >= limit * Decimal("0.0002") else "part" if through > 0 else "none"
        outcomes[kind] += 1
    assert outcomes == {"full": 33, "part": 4, "none": 3}
