"""CoinbaseExchange's maker-first methods against the fake Advanced Trade server's order book,
over real HTTP: post-only GTD orders that rest, fill (in full or in part), cross, expire and
are cancelled (a cancel may lose a race with a fill), IOC limit orders capped by the book,
best bid/ask, fills with their liquidity, product rules, the server's clock, and the exit of
issue 23 sized in coins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kripto.errors import (
    ClockSkewed,
    ExchangeUnavailable,
    InsufficientFunds,
    OrderRejected,
    OrderUnfilled,
    PostOnlyWouldCross,
    RetryableError,
)
from kripto.exchanges.base import Exchange, check_clock_skew
from kripto.exchanges.coinbase import CoinbaseExchange
from kripto.execution import Liquidity
from kripto.models import Order, OrderStatus, OrderType, Side
from tests.fakes.coinbase_fixtures import FakeCoinbase

TAKER = Decimal("0.012")
MAKER = Decimal("0.006")


@pytest.fixture
async def coinbase(fake_coinbase: FakeCoinbase) -> AsyncIterator[CoinbaseExchange]:
    server = fake_coinbase.server
    server.fee_rate, server.maker_fee_rate = TAKER, MAKER
    server.set_price("60000.00")
    server.set_book("59990.00", "60010.00")
    exchange = CoinbaseExchange(
        base_url=fake_coinbase.url,
        key_name=fake_coinbase.key_name,
        private_key_pem=fake_coinbase.private_key_pem,
        timeout=2.0,
        products=("BTC-GBP", "ETH-GBP"),
    )
    try:
        yield exchange
    finally:
        await exchange.close()


def in_two_minutes() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=2)


def gbp(fake: FakeCoinbase) -> tuple[Decimal, Decimal]:
    account = fake.balances()["GBP"]
    return Decimal(account["available"]), Decimal(account["hold"])


async def post_buy(exchange: CoinbaseExchange, key: str, size: str = "0.01") -> Order:
    return await exchange.place_post_only(
        client_order_id=key,
        product_id="BTC-GBP",
        side=Side.BUY,
        base_size=Decimal(size),
        limit_price=Decimal("59990.00"),
        end_time=in_two_minutes(),
    )


async def test_best_bid_ask_reads_every_product_in_one_request(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.server.set_book("1999.50", "2000.50", "ETH-GBP", bid_size="3", ask_size="4")
    before = len(fake_coinbase.server.requests)
    quotes = await coinbase.best_bid_ask(["BTC-GBP", "ETH-GBP", "DOGE-GBP"])
    assert fake_coinbase.server.requests[before:] == ["GET /api/v3/brokerage/best_bid_ask"]
    assert set(quotes) == {"BTC-GBP", "ETH-GBP"}  # no book for DOGE-GBP: unquoted
    btc, eth = quotes["BTC-GBP"], quotes["ETH-GBP"]
    assert (btc.bid, btc.ask, btc.touch(Side.BUY), btc.touch(Side.SELL)) == (
        Decimal("59990.00"),
        Decimal("60010.00"),
        Decimal("59990.00"),
        Decimal("60010.00"),
    )
    assert (eth.bid, eth.ask, eth.bid_size, eth.ask_size) == (
        Decimal("1999.50"),
        Decimal("2000.50"),
        Decimal("3"),
        Decimal("4"),
    )
    assert not btc.is_stale(datetime.now(UTC), timedelta(seconds=5))


async def test_a_post_only_order_rests_then_fills_in_full_at_maker(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    assert isinstance(coinbase, Exchange)
    placed = await coinbase.place_post_only(
        client_order_id="t1",
        product_id="BTC-GBP",
        side=Side.BUY,
        base_size=Decimal("0.0100000099"),  # rounded down to the satoshi
        limit_price=Decimal("59990.004"),  # a buy's price rounded down to the penny
        end_time=in_two_minutes(),
    )
    assert (placed.status, placed.order_type, placed.post_only) == (
        OrderStatus.OPEN,
        OrderType.LIMIT_GTD,
        True,
    )
    assert (placed.base_size, placed.limit_price, placed.filled_size) == (
        Decimal("0.01000000"),
        Decimal("59990.00"),
        Decimal("0"),
    )
    # 0.01 x 59,990.00 x 1.006 is held while it rests.
    assert gbp(fake_coinbase) == (Decimal("396.5006"), Decimal("603.4994"))
    assert await coinbase.fills(placed.id) == []

    # Again under the same key: the same order, nothing placed.
    again = await post_buy(coinbase, "t1")
    assert again.id == placed.id
    assert fake_coinbase.order_count() == 1

    fake_coinbase.server.set_book("59980.00", "59985.00")  # the market trades through it
    filled = await coinbase.get_order(placed.id)
    assert (filled.status, filled.filled_size, filled.executed_value, filled.fill_fees) == (
        OrderStatus.FILLED,
        Decimal("0.01"),
        Decimal("599.9"),
        Decimal("3.5994"),  # 0.6% maker
    )
    assert filled.settled and filled.is_final
    [fill] = await coinbase.fills(placed.id)
    assert (fill.price, fill.size, fill.fee, fill.liquidity) == (
        Decimal("59990.00"),
        Decimal("0.01"),
        Decimal("3.5994"),
        Liquidity.MAKER,
    )
    assert gbp(fake_coinbase) == (Decimal("396.5006"), Decimal("0.0000"))
    assert Decimal(fake_coinbase.balances()["BTC"]["available"]) == Decimal("0.01")


async def test_a_partial_fill_then_a_cancel_keeps_the_part_and_frees_the_rest(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    placed = await post_buy(coinbase, "t2")
    fake_coinbase.server.trade_at("59990.00", "0.004")
    part = await coinbase.get_order(placed.id)
    assert (part.status, part.filled_size, part.executed_value, part.fill_fees) == (
        OrderStatus.OPEN,
        Decimal("0.004"),
        Decimal("239.96"),
        Decimal("1.43976"),
    )
    assert gbp(fake_coinbase) == (Decimal("396.5006"), Decimal("362.09964"))

    cancelled = await coinbase.cancel_order(part.id)
    assert (cancelled.status, cancelled.filled_size, cancelled.fill_fees) == (
        OrderStatus.CANCELLED,
        Decimal("0.004"),
        Decimal("1.43976"),
    )
    # 1000.00 - 239.96 - 1.43976 spent; the rest is free again.
    assert gbp(fake_coinbase) == (Decimal("758.60024"), Decimal("0.00000"))
    assert [f.size for f in await coinbase.fills(part.id)] == [Decimal("0.004")]
    # Cancelling again changes nothing and still answers the order's state.
    assert (await coinbase.cancel_order(part.id)).status is OrderStatus.CANCELLED
    assert fake_coinbase.server.open_orders() == []


async def test_a_post_only_order_that_would_cross_is_refused_and_places_nothing(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    with pytest.raises(PostOnlyWouldCross) as crossed:
        await coinbase.place_post_only(
            client_order_id="t3",
            product_id="BTC-GBP",
            side=Side.BUY,
            base_size=Decimal("0.01"),
            limit_price=Decimal("60010.00"),  # at the ask: it would take
            end_time=in_two_minutes(),
        )
    assert isinstance(crossed.value, OrderRejected)
    assert "INVALID_LIMIT_PRICE_POST_ONLY" in str(crossed.value)
    assert fake_coinbase.order_count() == 0
    assert gbp(fake_coinbase) == (Decimal("1000.00"), Decimal("0"))
    assert await coinbase.find_order("t3", allow_unfilled=True) is None


async def test_a_resting_order_expires_at_its_end_time(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    end = in_two_minutes()
    placed = await coinbase.place_post_only(
        client_order_id="t4",
        product_id="BTC-GBP",
        side=Side.BUY,
        base_size=Decimal("0.01"),
        limit_price=Decimal("59990.00"),
        end_time=end,
    )
    assert placed.end_time is not None and abs(placed.end_time - end) < timedelta(seconds=1)
    fake_coinbase.server.now = end + timedelta(seconds=1)  # the exchange's clock passes it
    expired = await coinbase.get_order(placed.id, allow_unfilled=True)
    assert (expired.status, expired.filled_size, expired.is_final) == (
        OrderStatus.EXPIRED,
        Decimal("0"),
        True,
    )
    with pytest.raises(OrderUnfilled, match="expired with nothing filled"):
        await coinbase.get_order(placed.id)
    assert gbp(fake_coinbase) == (Decimal("1000.0000"), Decimal("0.0000"))
    found = await coinbase.find_order("t4", allow_unfilled=True)
    assert found is not None and found.status is OrderStatus.EXPIRED


async def test_a_cancel_that_loses_the_race_with_a_fill_returns_the_fill(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    placed = await post_buy(coinbase, "t5")
    fake_coinbase.inject({"kind": "fill_before_cancel"})
    after = await coinbase.cancel_order(placed.id)
    assert (after.status, after.filled_size, after.fill_fees) == (
        OrderStatus.FILLED,
        Decimal("0.01"),
        Decimal("3.5994"),
    )
    assert [f.liquidity for f in await coinbase.fills(after.id)] == [Liquidity.MAKER]
    assert Decimal(fake_coinbase.balances()["BTC"]["available"]) == Decimal("0.01")


async def test_an_ioc_limit_order_fills_up_to_the_book_and_its_cap(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.server.set_book("59990.00", "60010.00", ask_size="0.004")
    ioc = await coinbase.place_ioc_limit(
        client_order_id="t6",
        product_id="BTC-GBP",
        side=Side.BUY,
        limit_price=Decimal("60100.00"),
        base_size=Decimal("0.01"),
    )
    assert (ioc.order_type, ioc.status, ioc.filled_size, ioc.executed_value, ioc.fill_fees) == (
        OrderType.LIMIT_IOC,
        OrderStatus.CANCELLED,  # the rest is cancelled at once
        Decimal("0.004"),
        Decimal("240.04"),
        Decimal("2.88048"),  # 1.2% taker
    )
    [fill] = await coinbase.fills(ioc.id)
    assert (fill.price, fill.liquidity) == (Decimal("60010.00"), Liquidity.TAKER)
    assert gbp(fake_coinbase) == (Decimal("757.07952"), Decimal("0"))

    # Above the cap nothing fills: the order ends unfilled, returned (not raised).
    capped = await coinbase.place_ioc_limit(
        client_order_id="t7",
        product_id="BTC-GBP",
        side=Side.BUY,
        limit_price=Decimal("60000.00"),
        base_size=Decimal("0.01"),
    )
    assert (capped.status, capped.filled_size) == (OrderStatus.CANCELLED, Decimal("0"))
    assert gbp(fake_coinbase) == (Decimal("757.07952"), Decimal("0"))


async def test_the_whole_position_exit_after_a_dip_sells_the_coins_held(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    """Issue 23's refused exit: 0.01 BTC held, decided at £60,000.00 (£600.00), the price 0.02%
    lower when the order arrives. Today's main asks for 600.00 / 59,988.00 = 0.01000200 BTC
    and is refused for insufficient funds; now the coins held are sold."""
    fake_coinbase.set_balance("BTC", "0.01")
    fake_coinbase.set_price("59988.00")  # 60,000.00 less 0.02%
    by_coins = await coinbase.place_market_order(
        client_order_id="exit-1", product_id="BTC-GBP", side=Side.SELL, base_size=Decimal("0.01")
    )
    assert (by_coins.filled_size, by_coins.executed_value, by_coins.note) == (
        Decimal("0.01"),
        Decimal("599.88"),
        None,
    )
    assert Decimal(fake_coinbase.balances()["BTC"]["available"]) == 0
    assert gbp(fake_coinbase)[0] == Decimal("1592.68144")  # 1000 + 599.88 - 7.19856

    # A GBP amount above the holdings at the placement price sells the holdings, and says so.
    fake_coinbase.set_balance("BTC", "0.01")
    by_pounds = await coinbase.place_market_order(
        client_order_id="exit-2", product_id="BTC-GBP", side=Side.SELL, amount=Decimal("600.00")
    )
    assert by_pounds.filled_size == Decimal("0.01")
    assert by_pounds.note == (
        "sold the 0.01000000 BTC held: £600.00 at £59,988.00 is 0.01000200 BTC, more than held"
    )
    # Nothing held at all is still refused, and places nothing.
    with pytest.raises(InsufficientFunds):
        await coinbase.place_market_order(
            client_order_id="exit-3", product_id="BTC-GBP", side=Side.SELL, base_size=Decimal("1")
        )
    assert fake_coinbase.order_count() == 2


async def test_a_maker_sell_is_capped_at_the_coins_held(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.set_balance("BTC", "0.00999999")
    placed = await coinbase.place_post_only(
        client_order_id="t8",
        product_id="BTC-GBP",
        side=Side.SELL,
        base_size=Decimal("0.01"),
        limit_price=Decimal("60010.001"),  # a sell's price rounded up to the penny
        end_time=in_two_minutes(),
    )
    assert (placed.base_size, placed.limit_price) == (Decimal("0.00999999"), Decimal("60010.01"))
    assert placed.note == "sold the 0.00999999 BTC available, not the 0.01000000 BTC asked for"
    btc = fake_coinbase.balances()["BTC"]
    assert (Decimal(btc["available"]), Decimal(btc["hold"])) == (0, Decimal("0.00999999"))


async def test_product_rules_are_read_once_and_refuse_as_coinbase_would(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.server.product_rules["BTC-GBP"] = {"base_min_size": "0.0001"}
    rules = await coinbase.product_rules("BTC-GBP")
    again = await coinbase.product_rules("BTC-GBP")
    assert rules is again
    assert fake_coinbase.server.requests.count("GET /api/v3/brokerage/products/BTC-GBP") == 1
    assert (rules.base_increment, rules.quote_increment, rules.base_min_size) == (
        Decimal("0.00000001"),
        Decimal("0.01"),
        Decimal("0.0001"),
    )
    with pytest.raises(OrderRejected, match=r"INVALID_SIZE: 0\.00005 is below the minimum"):
        await post_buy(coinbase, "t9", size="0.00005")
    assert fake_coinbase.order_count() == 0


async def test_the_server_time_and_a_skewed_clock(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    server_time = await coinbase.server_time()
    assert abs(server_time - datetime.now(UTC)) < timedelta(seconds=2)
    assert abs(await check_clock_skew(coinbase, timedelta(seconds=5))) < timedelta(seconds=2)
    fake_coinbase.server.clock_skew = -30.0  # the exchange is 30 s behind: we are ahead
    with pytest.raises(ClockSkewed) as skewed:
        await check_clock_skew(coinbase, timedelta(seconds=5))
    message = str(skewed.value)
    assert message.startswith("this machine's clock is 30.")
    assert message.endswith(
        "s ahead of the exchange's (KRIPTO_MAX_CLOCK_SKEW is 5s): maker orders are refused"
        " until the clock is fixed (sync it with NTP)"
    )


async def test_a_lost_reply_to_a_post_only_order_finds_it_by_its_key(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.inject({"kind": "drop", "method": "POST", "path": "/orders"})
    with pytest.raises(RetryableError):
        await post_buy(coinbase, "lost-1")
    assert fake_coinbase.order_count() == 1  # the order exists; the reply was lost
    again = await post_buy(coinbase, "lost-1")  # the retry looks the key up first
    assert (again.status, fake_coinbase.order_count()) == (OrderStatus.OPEN, 1)
    # A failing cancel is retried (an order may exist), then answers the order's state.
    fake_coinbase.inject({"kind": "500", "method": "POST", "path": "/orders/batch_cancel"})
    with pytest.raises(ExchangeUnavailable):
        await coinbase.cancel_order(again.id)
    cancelled = await coinbase.cancel_order(again.id)
    assert cancelled.status is OrderStatus.CANCELLED
    # A rate-limited best bid/ask read is retryable and says how long to wait.
    fake_coinbase.inject({"kind": "429", "retry_after": 2, "path": "/best_bid_ask"})
    with pytest.raises(RetryableError) as limited:
        await coinbase.best_bid_ask(["BTC-GBP"])
    assert limited.value.retry_after == 2
    assert (await coinbase.best_bid_ask(["BTC-GBP"]))["BTC-GBP"].bid == Decimal("59990.00")


async def test_a_product_in_limit_only_mode_refuses_a_market_sell_before_sending_it(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.set_balance("BTC", "0.01")
    fake_coinbase.server.product_rules["BTC-GBP"] = {"limit_only": True}
    with pytest.raises(OrderRejected, match="BTC-GBP is in limit-only mode"):
        await coinbase.place_market_order(
            client_order_id="m-1", product_id="BTC-GBP", side=Side.SELL, base_size=Decimal("0.01")
        )
    assert fake_coinbase.order_count() == 0


async def test_a_post_only_buy_beyond_the_balance_is_refused_for_funds(
    coinbase: CoinbaseExchange, fake_coinbase: FakeCoinbase
) -> None:
    fake_coinbase.set_balance("GBP", "500.00")  # 0.01 x 59,990.00 x 1.006 is £603.50
    with pytest.raises(InsufficientFunds, match="not enough GBP"):
        await post_buy(coinbase, "poor-1")
    assert fake_coinbase.order_count() == 0
    assert gbp(fake_coinbase) == (Decimal("500.00"), Decimal("0"))
