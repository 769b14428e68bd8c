"""The paper exchange as strict as Coinbase (issue 23), against a real Postgres: a book of one
bid and one ask around the price when an order arrives, post-only orders that rest and fill
only as the price trades through them (in part, or in full), cross refusals in Coinbase's
words, expiry at the end time, cancels that may lose to a fill, capped IOC orders, fills at
the maker or taker rate, and the whole-position exit sized in coins."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.decisions import decide
from kripto.errors import (
    InsufficientFunds,
    OrderRejected,
    OrderUnfilled,
    PostOnlyWouldCross,
)
from kripto.exchanges.base import Exchange
from kripto.exchanges.paper import FeedPrices, PaperExchange
from kripto.execution import Liquidity
from kripto.feeds.simulated import SimulatedFeed
from kripto.fees import FeeTier
from kripto.models import OrderStatus, OrderType, Rate, Side, TradeRequest
from kripto.protections import Protections, ProtectionState
from kripto.risk import RiskSettings
from kripto.strategies.ema_cross import EmaCross

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TIER = FeeTier("intro1", Decimal("0.006"), Decimal("0.012"))


@dataclass
class Clock:
    """The paper exchange's clock, moved by the test rather than waited for."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


async def store_rate(db: Database, price: str, minute: int = 0) -> None:
    at = T0 + timedelta(minutes=minute)
    await RateRepository(db).insert(Rate(rate=Decimal(price), date_time=at, source="simulated"))


def paper(db: Database, clock: Clock, spread: str = "0.0002") -> PaperExchange:
    return PaperExchange(
        db,
        fee_rate=TIER.taker,
        fees=TIER,
        initial_gbp=Decimal("1000.00"),
        spread=Decimal(spread),
        clock=clock,
    )


async def balances(exchange: PaperExchange, currency: str) -> tuple[Decimal, Decimal]:
    account = (await exchange.wallet()).balance(currency)
    return account.available, account.hold


async def hold_btc(db: Database, exchange: PaperExchange, size: str) -> None:
    await exchange.wallet()  # the accounts exist
    await db.pool.execute("UPDATE paper_accounts SET balance = $1 WHERE currency = 'BTC'", size)


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_the_book_is_the_price_with_the_spread_around_it(db: Database, clock: Clock) -> None:
    await store_rate(db, "60000.00")
    exchange = paper(db, clock)
    assert isinstance(exchange, Exchange)
    quote = (await exchange.best_bid_ask(["BTC-GBP", "ETH-GBP"]))["BTC-GBP"]
    # 0.02% of £60,000.00 is £12.00: £6.00 either side.
    assert (quote.bid, quote.ask, quote.time) == (
        Decimal("59994.00"),
        Decimal("60006.00"),
        clock.now,
    )
    assert await exchange.server_time() == clock.now
    # A market buy pays the ask, a sell gets the bid, as taker.
    bought = await exchange.place_market_order(
        client_order_id="m1", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("100.00")
    )
    [fill] = await exchange.fills(bought.id)
    assert (fill.price, fill.liquidity, fill.size) == (
        Decimal("60006.00"),
        Liquidity.TAKER,
        bought.filled_size,
    )
    assert fill.fee == bought.fill_fees == (bought.executed_value * Decimal("0.012"))


async def test_a_post_only_order_rests_and_fills_at_maker_when_the_price_trades_through(
    db: Database, clock: Clock
) -> None:
    await store_rate(db, "60000.00")
    exchange = paper(db, clock)
    placed = await exchange.place_post_only(
        client_order_id="p1",
        product_id="BTC-GBP",
        side=Side.BUY,
        base_size=Decimal("0.0100000099"),
        limit_price=Decimal("59994.009"),
        end_time=clock.now + timedelta(minutes=2),
    )
    assert (placed.status, placed.order_type, placed.base_size, placed.limit_price) == (
        OrderStatus.OPEN,
        OrderType.LIMIT_GTD,
        Decimal("0.01000000"),
        Decimal("59994.00"),
    )
    # 0.01 x 59,994.00 x 1.006 is held while it rests.
    assert await balances(exchange, "GBP") == (Decimal("396.46036"), Decimal("603.53964"))
    # The same key again: the same order, nothing more held.
    again = await exchange.place_post_only(
        client_order_id="p1",
        product_id="BTC-GBP",
        side=Side.BUY,
        base_size=Decimal("0.01"),
        limit_price=Decimal("59994.00"),
        end_time=clock.now + timedelta(minutes=2),
    )
    assert again.id == placed.id
    # At its limit the price has not traded through it: still resting.
    await store_rate(db, "59994.00", minute=1)
    assert (await exchange.get_order(placed.id)).filled_size == 0

    await store_rate(db, "59980.00", minute=2)  # £14.00 through: more than 0.02%
    filled = await exchange.get_order(placed.id)
    assert (filled.status, filled.filled_size, filled.executed_value, filled.fill_fees) == (
        OrderStatus.FILLED,
        Decimal("0.01000000"),
        Decimal("599.9400000000"),
        Decimal("3.59964"),  # 0.6% maker
    )
    [fill] = await exchange.fills(placed.id)
    assert (fill.price, fill.size, fill.fee, fill.liquidity) == (
        Decimal("59994.00"),
        Decimal("0.01000000"),
        Decimal("3.59964"),
        Liquidity.MAKER,
    )
    assert await balances(exchange, "GBP") == (Decimal("396.46036"), Decimal("0"))
    assert await balances(exchange, "BTC") == (Decimal("0.01000000"), Decimal("0"))


async def test_a_shallow_move_fills_part_and_a_cancel_frees_the_rest(
    db: Database, clock: Clock
) -> None:
    await store_rate(db, "60000.00")
    exchange = paper(db, clock)
    placed = await exchange.place_post_only(
        client_order_id="p2",
        product_id="BTC-GBP",
        side=Side.BUY,
        base_size=Decimal("0.01"),
        limit_price=Decimal("59994.00"),
        end_time=clock.now + timedelta(minutes=2),
    )
    await store_rate(db, "59988.00", minute=1)  # £6.00 through: half of 0.02% of the limit
    part = await exchange.get_order(placed.id)
    assert (part.status, part.filled_size, part.executed_value, part.fill_fees) == (
        OrderStatus.OPEN,
        Decimal("0.00500050"),
        Decimal("299.9999970000"),
        Decimal("1.799999982"),
    )
    cancelled = await exchange.cancel_order(placed.id)
    assert (cancelled.status, cancelled.filled_size, cancelled.is_final) == (
        OrderStatus.CANCELLED,
        Decimal("0.00500050"),
        True,
    )
    # 1000.00 - 299.999997 - 1.799999982: the part is paid for, the rest is free again.
    assert await balances(exchange, "GBP") == (Decimal("698.200003018"), Decimal("0"))
    assert [f.size for f in await exchange.fills(placed.id)] == [Decimal("0.00500050")]
    # A cancel of an ended order changes nothing.
    assert (await exchange.cancel_order(placed.id)).status is OrderStatus.CANCELLED
    assert await balances(exchange, "GBP") == (Decimal("698.200003018"), Decimal("0"))


async def test_a_post_only_order_that_would_cross_is_refused_in_coinbases_words(
    db: Database, clock: Clock
) -> None:
    await store_rate(db, "60000.00")
    exchange = paper(db, clock)
    with pytest.raises(PostOnlyWouldCross) as crossed:
        await exchange.place_post_only(
            client_order_id="p3",
            product_id="BTC-GBP",
            side=Side.BUY,
            base_size=Decimal("0.01"),
            limit_price=Decimal("60006.00"),
            end_time=clock.now + timedelta(minutes=2),
        )
    assert str(crossed.value) == (
        "the paper exchange refused the post-only order: buying 0.01000000 BTC at £60,006.00"
        " would cross the book (best ask £60,006.00): INVALID_LIMIT_PRICE_POST_ONLY; nothing"
        " was placed"
    )
    await hold_btc(db, exchange, "0.01")
    with pytest.raises(PostOnlyWouldCross, match=r"best bid £59,994\.00"):
        await exchange.place_post_only(
            client_order_id="p3",
            product_id="BTC-GBP",
            side=Side.SELL,
            base_size=Decimal("0.01"),
            limit_price=Decimal("59994.00"),
            end_time=clock.now + timedelta(minutes=2),
        )
    with pytest.raises(OrderRejected, match="is not in the future"):
        await exchange.place_post_only(
            client_order_id="p3",
            product_id="BTC-GBP",
            side=Side.SELL,
            base_size=Decimal("0.01"),
            limit_price=Decimal("60006.00"),
            end_time=clock.now,
        )
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 0
    assert await balances(exchange, "GBP") == (Decimal("1000.00"), Decimal("0"))


async def test_a_resting_order_expires_at_its_end_time(db: Database, clock: Clock) -> None:
    await store_rate(db, "60000.00")
    exchange = paper(db, clock)
    end = clock.now + timedelta(minutes=2)
    await hold_btc(db, exchange, "0.01")
    placed = await exchange.place_post_only(
        client_order_id="p4",
        product_id="BTC-GBP",
        side=Side.SELL,
        base_size=Decimal("0.01"),
        limit_price=Decimal("60006.00"),
        end_time=end,
    )
    assert await balances(exchange, "BTC") == (Decimal("0"), Decimal("0.01000000"))
    clock.now = end  # its end time: the exchange ends it, whatever the price does after
    await store_rate(db, "60100.00", minute=3)
    expired = await exchange.get_order(placed.id, allow_unfilled=True)
    assert (expired.status, expired.filled_size) == (OrderStatus.EXPIRED, Decimal("0"))
    with pytest.raises(OrderUnfilled, match="expired with nothing filled"):
        await exchange.get_order(placed.id)
    assert await balances(exchange, "BTC") == (Decimal("0.01"), Decimal("0"))
    assert await exchange.list_orders(T0, clock.now + timedelta(days=1)) == []


async def test_a_cancel_after_the_price_traded_through_returns_the_fill(
    db: Database, clock: Clock
) -> None:
    await store_rate(db, "60000.00")
    exchange = paper(db, clock)
    placed = await exchange.place_post_only(
        client_order_id="p5",
        product_id="BTC-GBP",
        side=Side.BUY,
        base_size=Decimal("0.01"),
        limit_price=Decimal("59994.00"),
        end_time=clock.now + timedelta(minutes=2),
    )
    await store_rate(db, "59900.00", minute=1)  # the fill happens before the cancel arrives
    after = await exchange.cancel_order(placed.id)
    assert (after.status, after.filled_size, after.fill_fees) == (
        OrderStatus.FILLED,
        Decimal("0.01000000"),
        Decimal("3.59964"),
    )
    assert await balances(exchange, "BTC") == (Decimal("0.01000000"), Decimal("0"))


async def test_an_ioc_order_fills_within_its_cap_at_taker_or_not_at_all(
    db: Database, clock: Clock
) -> None:
    await store_rate(db, "60000.00")
    exchange = paper(db, clock)
    capped = await exchange.place_ioc_limit(
        client_order_id="i1",
        product_id="BTC-GBP",
        side=Side.BUY,
        limit_price=Decimal("60000.00"),  # below the ask
        base_size=Decimal("0.01"),
    )
    assert (capped.status, capped.filled_size, capped.order_type) == (
        OrderStatus.CANCELLED,
        Decimal("0"),
        OrderType.LIMIT_IOC,
    )
    assert await exchange.fills(capped.id) == []
    by_pounds = await exchange.place_ioc_limit(
        client_order_id="i2",
        product_id="BTC-GBP",
        side=Side.BUY,
        limit_price=Decimal("60300.00"),
        quote_size=Decimal("100.00"),
    )
    # 100.00 / (60,006.00 x 1.012), rounded down: never more than £100.00 with the fee.
    assert (by_pounds.status, by_pounds.filled_size, by_pounds.executed_value) == (
        OrderStatus.FILLED,
        Decimal("0.00164673"),
        Decimal("98.8136803800"),
    )
    assert by_pounds.fill_fees == Decimal("1.18576416456")
    assert by_pounds.executed_value + by_pounds.fill_fees <= Decimal("100.00")
    [fill] = await exchange.fills(by_pounds.id)
    assert (fill.price, fill.liquidity) == (Decimal("60006.00"), Liquidity.TAKER)
    assert await balances(exchange, "GBP") == (Decimal("900.00055545544"), Decimal("0"))
    # The same key again returns the order and moves nothing.
    again = await exchange.place_ioc_limit(
        client_order_id="i2",
        product_id="BTC-GBP",
        side=Side.BUY,
        limit_price=Decimal("60300.00"),
        quote_size=Decimal("100.00"),
    )
    assert again == by_pounds
    assert await db.pool.fetchval("SELECT count(*) FROM paper_fills") == 1


async def test_the_whole_position_exit_after_a_dip_sells_the_coins_held(
    db: Database, clock: Clock
) -> None:
    """Issue 23's refused exit on paper: 0.01 BTC held, decided at £60,000.00 (£600.00), the
    price 0.02% lower when the order arrives. Today's main sizes the sell as £600.00 at
    59,988.00 = 0.01000200 BTC and refuses it for insufficient funds."""
    await store_rate(db, "60000.00")
    exchange = paper(db, clock, spread="0")
    await hold_btc(db, exchange, "0.01")
    await store_rate(db, "59988.00", minute=1)  # 60,000.00 less 0.02%
    sold = await exchange.place_market_order(
        client_order_id="exit-1", product_id="BTC-GBP", side=Side.SELL, base_size=Decimal("0.01")
    )
    assert (sold.filled_size, sold.executed_value, sold.fill_fees, sold.note) == (
        Decimal("0.01"),
        Decimal("599.8800"),
        Decimal("7.19856"),
        None,
    )
    assert await balances(exchange, "BTC") == (Decimal("0.00"), Decimal("0"))
    assert await balances(exchange, "GBP") == (Decimal("1592.68144"), Decimal("0"))

    # In GBP, more than is held at the placement price: the holdings are sold, and it says so.
    await hold_btc(db, exchange, "0.01")
    capped = await exchange.place_market_order(
        client_order_id="exit-2", product_id="BTC-GBP", side=Side.SELL, amount=Decimal("600.00")
    )
    assert (capped.filled_size, capped.funds) == (Decimal("0.01"), Decimal("600.00"))
    assert capped.note == (
        "sold the 0.01000000 BTC held: £600.00 at £59,988.00 is 0.01000200 BTC, more than held"
    )
    with pytest.raises(InsufficientFunds, match=r"wallet has 0\.00000000 BTC"):
        await exchange.place_market_order(
            client_order_id="exit-3", product_id="BTC-GBP", side=Side.SELL, base_size=Decimal("1")
        )


async def test_the_simulated_feed_prices_an_order_at_the_second_it_arrives(
    db: Database, clock: Clock
) -> None:
    feed = SimulatedFeed(seed=7)
    exchange = PaperExchange(
        db,
        fee_rate=TIER.taker,
        fees=TIER,
        initial_gbp=Decimal("1000.00"),
        spread=Decimal("0.0002"),
        prices=FeedPrices(feed),
        clock=clock,
    )
    clock.now = T0 + timedelta(seconds=17)
    quote = (await exchange.best_bid_ask(["BTC-GBP"]))["BTC-GBP"]
    price = feed.price_at("BTC-GBP", clock.now)
    assert quote.bid < price < quote.ask
    bought = await exchange.place_market_order(
        client_order_id="f1", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("50.00")
    )
    [fill] = await exchange.fills(bought.id)
    assert fill.price == quote.ask
    await exchange.close()


async def test_a_stop_loss_decided_at_60000_sells_the_0_01_btc_held_after_a_dip(
    db: Database, clock: Clock
) -> None:
    """From the decision to the exchange: the stop is decided on the paper wallet at
    £60,000.00, the price is 0.02% lower when the order arrives, and the 0.01 BTC held is sold
    (today's main asks for £600.00 of BTC at 59,988.00: 0.01000200 BTC, InsufficientFunds)."""
    exchange = paper(db, clock, spread="0")
    await hold_btc(db, exchange, "0.01")
    history = [
        Rate(rate=Decimal("60000.00"), date_time=T0 + timedelta(minutes=i), source="simulated")
        for i in range(11)
    ]
    await RateRepository(db).insert_many(history)
    decision = decide(
        decision_id="d",
        product_id="BTC-GBP",
        tick_time=history[-1].date_time,
        rates=history,
        wallet=await exchange.wallet(),
        recent_trades=[],
        strategy=EmaCross(2, 5),
        risk=RiskSettings(protections=Protections(stop_loss=Decimal("0.1"))),
        fee_rate=TIER.taker,
        protection=ProtectionState(entry_price=Decimal("70000")),
    )
    assert (decision.action, decision.amount, decision.base_size) == (
        "sell",
        Decimal("600.00"),
        Decimal("0.01"),
    )
    await store_rate(db, "59988.00", minute=11)
    request = TradeRequest(
        trade_type=Side.SELL, amount=decision.amount, base_size=decision.base_size
    )
    sold = await exchange.place_market_order(
        client_order_id="stop-1",
        product_id=request.product_id,
        side=request.trade_type,
        base_size=request.base_size,
    )
    assert (sold.filled_size, sold.executed_value, sold.fill_fees) == (
        Decimal("0.01"),
        Decimal("599.8800"),
        Decimal("7.19856"),
    )
    assert await balances(exchange, "BTC") == (Decimal("0.00"), Decimal("0"))
    assert await balances(exchange, "GBP") == (Decimal("1592.68144"), Decimal("0"))


async def test_concurrent_post_only_calls_under_one_key_hold_the_funds_once(
    db: Database, clock: Clock
) -> None:
    await store_rate(db, "60000.00")
    exchange = paper(db, clock)
    placed = await asyncio.gather(
        *(
            exchange.place_post_only(
                client_order_id="same",
                product_id="BTC-GBP",
                side=Side.BUY,
                base_size=Decimal("0.01"),
                limit_price=Decimal("59994.00"),
                end_time=clock.now + timedelta(minutes=2),
            )
            for _ in range(5)
        )
    )
    assert len({o.id for o in placed}) == 1
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 1
    assert await balances(exchange, "GBP") == (Decimal("396.46036"), Decimal("603.53964"))


async def test_a_move_through_the_order_between_two_looks_still_fills_it(
    db: Database, clock: Clock
) -> None:
    """With the simulated feed the paper exchange replays the price second by second since its
    last look: an order first looked at again only after its end time still fills if the price
    went through it meanwhile (on the dev stack a trade may only look at the window's end)."""
    feed = SimulatedFeed(seed=42)
    exchange = PaperExchange(
        db,
        fee_rate=TIER.taker,
        fees=TIER,
        initial_gbp=Decimal("1000.00"),
        spread=Decimal("0.0002"),
        prices=FeedPrices(feed),
        clock=clock,
    )
    clock.now = T0 + timedelta(seconds=7)
    bid = (await exchange.best_bid_ask(["BTC-GBP"]))["BTC-GBP"].bid
    end = clock.now + timedelta(minutes=2)
    placed = await exchange.place_post_only(
        client_order_id="replay",
        product_id="BTC-GBP",
        side=Side.BUY,
        base_size=Decimal("0.01"),
        limit_price=bid,
        end_time=end,
    )
    # Seed 42 from 12:00:07: the bid is 56,692.76, and within the window the price goes down
    # to 56,679.24, £13.52 through it: more than 0.02% of the limit, so it fills in full.
    assert bid == Decimal("56692.76")
    window = [feed.price_at("BTC-GBP", clock.now + timedelta(seconds=s)) for s in range(1, 121)]
    assert min(window) == Decimal("56679.24")
    clock.now = end + timedelta(minutes=5)  # nobody looked during the window
    after = await exchange.get_order(placed.id, allow_unfilled=True)
    assert (after.status, after.filled_size, after.executed_value) == (
        OrderStatus.FILLED,
        Decimal("0.01"),
        Decimal("566.9276"),
    )
    assert {(f.price, f.liquidity) for f in await exchange.fills(placed.id)} == {
        (bid, Liquidity.MAKER)
    }


async def test_a_post_only_buy_beyond_the_balance_is_refused_in_coinbases_words(
    db: Database, clock: Clock
) -> None:
    await store_rate(db, "60000.00")
    exchange = PaperExchange(
        db, fee_rate=TIER.taker, fees=TIER, initial_gbp=Decimal("500.00"), clock=clock
    )
    with pytest.raises(InsufficientFunds) as refused:
        await exchange.place_post_only(
            client_order_id="poor",
            product_id="BTC-GBP",
            side=Side.BUY,
            base_size=Decimal("0.01"),
            limit_price=Decimal("59990.00"),
            end_time=clock.now + timedelta(minutes=2),
        )
    assert str(refused.value) == (
        "insufficient funds: buying 0.01000000 BTC at £59,990.00 needs £603.50 GBP available,"
        " wallet has £500.00: INSUFFICIENT_FUND"
    )
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 0
