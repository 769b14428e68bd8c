"""The paper exchange against a real Postgres: the seed's arithmetic, balances, idempotency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.errors import InsufficientFunds, InvalidInput, RetryableError
from kripto.exchanges.base import Exchange
from kripto.exchanges.paper import PaperExchange
from kripto.models import Rate, Side

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def store_rate(db: Database, price: str, minute: int = 0) -> None:
    at = T0.replace(minute=minute)
    await RateRepository(db).insert(Rate(rate=Decimal(price), date_time=at, source="simulated"))


def paper(db: Database, initial_gbp: str = "1000.00") -> PaperExchange:
    return PaperExchange(db, fee_rate=Decimal("0.005"), initial_gbp=Decimal(initial_gbp))


async def test_a_buy_reproduces_the_seed_trade(db: Database) -> None:
    await store_rate(db, "7900.01")
    exchange = paper(db)
    assert isinstance(exchange, Exchange)
    order = await exchange.place_market_order(
        client_order_id="trade-1", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("10.00")
    )
    assert order.funds == Decimal("9.95024875")
    assert order.filled_size == Decimal("0.00125952")
    assert order.executed_value == Decimal("9.9502205952")
    assert order.fill_fees == Decimal("0.049751102976")
    assert order.settled is True
    assert order.side is Side.BUY
    assert order.client_order_id == "trade-1"
    assert order.to_json_dict()["funds"] == "9.95024875"

    wallet = await exchange.wallet()
    assert wallet.gbp.balance == Decimal("1000.00") - Decimal("9.999971698176")
    assert wallet.gbp.balance == Decimal("990.000028301824")
    assert wallet.gbp.available == wallet.gbp.balance
    assert wallet.gbp.hold == 0
    assert wallet.btc.balance == Decimal("0.00125952")
    assert await exchange.get_order(order.id) == order
    assert await exchange.find_order("trade-1") == order


async def test_the_same_key_returns_the_first_order_and_moves_nothing(db: Database) -> None:
    await store_rate(db, "7900.01")
    exchange = paper(db)
    first = await exchange.place_market_order(
        client_order_id="k", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("10.00")
    )
    await store_rate(db, "9000.00", minute=1)  # a later rate must not change the answer
    again = await exchange.place_market_order(
        client_order_id="k", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("20.00")
    )
    assert again == first
    assert (await exchange.wallet()).btc.balance == Decimal("0.00125952")


async def test_concurrent_placements_under_one_key_place_one_order(db: Database) -> None:
    await store_rate(db, "7900.01")
    exchange = paper(db)
    orders = await asyncio.gather(
        *(
            exchange.place_market_order(
                client_order_id="same", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("10")
            )
            for _ in range(5)
        )
    )
    assert len({o.id for o in orders}) == 1
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 1
    wallet = await exchange.wallet()
    assert wallet.gbp.balance == Decimal("990.000028301824")
    assert wallet.btc.balance == Decimal("0.00125952")


async def test_a_sell_pays_the_fee_out_of_the_proceeds(db: Database) -> None:
    await store_rate(db, "7900.01")
    exchange = paper(db)
    await exchange.place_market_order(
        client_order_id="b", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("100.00")
    )
    before = await exchange.wallet()
    sell = await exchange.place_market_order(
        client_order_id="s", product_id="BTC-GBP", side=Side.SELL, amount=Decimal("10.00")
    )
    assert sell.funds == Decimal("10.00")
    assert sell.filled_size == Decimal("0.00126582")
    assert sell.executed_value == Decimal("9.9999906582")
    assert sell.fill_fees == Decimal("0.049999953291")
    after = await exchange.wallet()
    assert after.gbp.balance - before.gbp.balance == Decimal("9.949990704909")
    assert before.btc.balance - after.btc.balance == Decimal("0.00126582")


async def test_selling_more_btc_than_is_available_is_refused(db: Database) -> None:
    await store_rate(db, "7900.01")
    exchange = paper(db)
    with pytest.raises(InsufficientFunds) as caught:
        await exchange.place_market_order(
            client_order_id="s", product_id="BTC-GBP", side=Side.SELL, amount=Decimal("10.00")
        )
    assert str(caught.value) == (
        "insufficient funds: selling £10.00 of BTC needs 0.00126582 BTC available,"
        " wallet has 0.00000000 BTC"
    )
    assert await exchange.find_order("s") is None
    assert (await exchange.wallet()).gbp.balance == Decimal("1000.00")


async def test_buying_more_than_the_wallet_holds_is_refused(db: Database) -> None:
    await store_rate(db, "7900.01")
    exchange = paper(db, initial_gbp="12.30")
    with pytest.raises(InsufficientFunds) as caught:
        await exchange.place_market_order(
            client_order_id="b", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("50.00")
        )
    message = str(caught.value)
    assert message.startswith("insufficient funds: buying £50.00 of BTC needs £")
    assert message.endswith("GBP available, wallet has £12.30")
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 0


async def test_no_rate_yet_is_retryable_and_bad_input_is_not(db: Database) -> None:
    exchange = paper(db)
    with pytest.raises(RetryableError, match="no rate stored yet for BTC-GBP"):
        await exchange.place_market_order(
            client_order_id="x", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("10")
        )
    with pytest.raises(InvalidInput):
        await exchange.place_market_order(
            client_order_id="x", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("-1")
        )
    with pytest.raises(InvalidInput):
        await exchange.place_market_order(
            client_order_id="x", product_id="btc", side=Side.BUY, amount=Decimal("1")
        )


async def test_accounts_are_created_once_with_stable_ids(db: Database) -> None:
    first = await paper(db).wallet()
    second = await paper(db, initial_gbp="5.00").wallet()
    assert first == second
    assert first.gbp.balance == Decimal("1000.00")
    assert first.btc.balance == 0
    assert first.to_json_dict()["gbp"] == {
        "id": first.gbp.id,
        "balance": "1000.00",
        "hold": "0",
        "available": "1000.00",
    }
