"""The paper exchange with two markets: each fills at its own rate and moves its own base; the
quote currency is shared, and KRIPTO_PAPER_GBP funds every quote currency."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.exchanges.paper import PaperExchange
from kripto.models import Rate, Side

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def test_each_market_fills_at_its_own_rate_and_moves_its_own_base(db: Database) -> None:
    rates = RateRepository(db)
    for product, price in (("BTC-GBP", "7900.01"), ("ETH-GBP", "2000.00"), ("ETH-EUR", "2500")):
        await rates.insert(
            Rate(product_id=product, rate=Decimal(price), date_time=T0, source="simulated")
        )
    exchange = PaperExchange(
        db,
        fee_rate=Decimal("0.005"),
        initial_gbp=Decimal("1000.00"),
        products=("BTC-GBP", "ETH-GBP", "ETH-EUR"),
    )
    start = await exchange.wallet()
    assert {c: b.balance for c, b in start.balances().items()} == {
        "GBP": Decimal("1000.00"),
        "BTC": Decimal(0),
        "ETH": Decimal(0),
        "EUR": Decimal("1000.00"),
    }
    btc = await exchange.place_market_order(
        client_order_id="btc-1", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("10.00")
    )
    eth = await exchange.place_market_order(
        client_order_id="eth-1", product_id="ETH-GBP", side=Side.BUY, amount=Decimal("10.00")
    )
    assert btc.filled_size == Decimal("0.00125952")
    # 10 / 1.005 = 9.95024875 of funds; / 2000 = 0.00497512 ETH (1e-8), worth 9.95024
    assert (eth.funds, eth.filled_size) == (Decimal("9.95024875"), Decimal("0.00497512"))
    assert (eth.executed_value, eth.fill_fees) == (Decimal("9.95024000"), Decimal("0.0497512"))
    wallet = await exchange.wallet()
    assert wallet.gbp.balance == Decimal("1000.00") - Decimal("9.999971698176") - Decimal(
        "9.9999912"
    )
    assert wallet.btc.balance == Decimal("0.00125952")
    assert wallet.balance("ETH").balance == Decimal("0.00497512")
    assert wallet.balance("EUR").balance == Decimal("1000.00")

    sold = await exchange.place_market_order(
        client_order_id="eth-2", product_id="ETH-EUR", side=Side.SELL, amount=Decimal("5.00")
    )
    # 5 / 2500 = 0.002 ETH sold, for €5.00 less a €0.025 fee
    assert (sold.filled_size, sold.executed_value) == (Decimal("0.002"), Decimal("5.000"))
    after = await exchange.wallet()
    assert after.balance("ETH").balance == Decimal("0.00297512")
    assert after.balance("EUR").balance == Decimal("1004.975")
    assert after.gbp.balance == wallet.gbp.balance
    assert after.btc.balance == wallet.btc.balance
