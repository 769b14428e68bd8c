"""Each risk guard, with exact amounts and the reason a person reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from kripto.composition import risk_from_settings
from kripto.models import Order, Side
from kripto.protections import Protections
from kripto.risk import (
    Holdings,
    PastTrade,
    RiskSettings,
    Sized,
    size_trade,
)
from kripto.settings import Settings

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PRICE = Decimal("60000.00")
FEE = Decimal("0.005")
RISK = RiskSettings(
    min_order_gbp=Decimal("10"),
    max_trade_gbp=Decimal("100"),
    daily_spend_limit_gbp=Decimal("200"),
    cooldown=timedelta(minutes=30),
)


def order(side: Side, minutes_ago: int, value: str = "50", fee: str = "0.25") -> Order:
    return Order(
        id="o",
        side=side,
        product_id="BTC-GBP",
        funds=Decimal(value),
        settled=True,
        created_at=NOW - timedelta(minutes=minutes_ago),
        fill_fees=Decimal(fee),
        filled_size=Decimal("0.001"),
        executed_value=Decimal(value),
        client_order_id="k",
    )


def size(
    side: Side,
    gbp: str = "1000",
    btc: str = "0",
    trades: list[Order] | None = None,
    edge: float = 0.05,
    risk: RiskSettings = RISK,
) -> Sized:
    return size_trade(
        side,
        price=PRICE,
        holdings=Holdings(Decimal(gbp), Decimal(btc)),
        recent_trades=[PastTrade.of(t) for t in trades or []],
        now=NOW,
        edge=edge,
        fee_rate=FEE,
        risk=risk,
    )


def test_a_buy_is_15_percent_of_available_gbp() -> None:
    assert size(Side.BUY, gbp="500.00") == Sized(Decimal("75.00"), None)


def test_a_sell_is_15_percent_of_the_btc_value() -> None:
    # 0.005 BTC at £60,000 is £300.00; 15% is £45.00
    assert size(Side.SELL, btc="0.005") == Sized(Decimal("45.00"), None)


def test_the_minimum_order_applies_when_15_percent_is_less() -> None:
    assert size(Side.BUY, gbp="40.00") == Sized(Decimal("10"), None)


def test_never_buy_without_enough_gbp() -> None:
    sized = size(Side.BUY, gbp="9.99")
    assert sized.amount == 0
    assert sized.reason == "not enough to buy: £9.99 GBP available, minimum order £10.00"


def test_never_sell_btc_we_do_not_hold() -> None:
    sized = size(Side.SELL, btc="0")
    assert sized.reason == "not enough to sell: BTC worth £0.00 available, minimum order £10.00"


def test_the_maximum_per_trade_caps_the_amount() -> None:
    assert size(Side.BUY, gbp="5000.00").amount == Decimal("100")


def test_the_daily_spend_limit_counts_the_last_24_hours_of_buys() -> None:
    trades = [order(Side.BUY, 60 * 23, "150", "0.75"), order(Side.BUY, 60 * 25, "900")]
    assert size(Side.BUY, trades=trades).amount == Decimal("49.25")  # 200 - 150.75
    spent = [order(Side.BUY, 60, "195", "0.50")]
    assert size(Side.BUY, trades=spent).reason == ("daily spend limit reached: £195.50 of £200.00")


def test_the_cooldown_between_trades() -> None:
    sized = size(Side.BUY, trades=[order(Side.SELL, 4)])
    assert sized.reason == "cooldown: last trade 4 min ago (needs 30 min)"
    assert size(Side.BUY, trades=[order(Side.SELL, 31)]).ok


def test_no_trade_whose_edge_is_below_the_round_trip_fee() -> None:
    sized = size(Side.BUY, edge=0.0042)
    assert sized.reason == "expected edge 0.42% is below the round-trip fee 1.00%"
    assert size(Side.BUY, edge=0.0101).ok


def test_the_exchange_minimum_is_never_undercut() -> None:
    low = RiskSettings(min_order_gbp=Decimal("0.10"), exchange_min_gbp=Decimal("1"))
    assert size(Side.BUY, gbp="2.00", risk=low).amount == Decimal("1")


def test_a_sell_below_the_minimum_sells_the_minimum_when_we_hold_enough() -> None:
    # 0.0005 BTC is £30.00; 15% (£4.50) is under the £10 minimum, and £10 is held.
    assert size(Side.SELL, btc="0.0005") == Sized(Decimal("10"), None)
    # 0.0001 BTC is £6.00: not even the minimum.
    assert size(Side.SELL, btc="0.0001").reason == (
        "not enough to sell: BTC worth £6.00 available, minimum order £10.00"
    )


def test_sells_do_not_count_towards_the_daily_spend_limit() -> None:
    trades = [order(Side.SELL, 60, "500", "2.50")]
    assert size(Side.BUY, trades=trades).amount == Decimal("100")


def test_the_guards_come_from_the_settings() -> None:
    settings = Settings(
        trade_fraction=Decimal("0.2"),
        min_order_gbp=Decimal("12.50"),
        max_trade_gbp=Decimal("80"),
        daily_spend_limit_gbp=Decimal("300"),
        cooldown="15m",
        stale_after="2m",
    )
    assert risk_from_settings(settings.risk, settings.strategy) == RiskSettings(
        trade_fraction=Decimal("0.2"),
        min_order_gbp=Decimal("12.50"),
        exchange_min_gbp=Decimal("1"),
        max_trade_gbp=Decimal("80"),
        daily_spend_limit_gbp=Decimal("300"),
        cooldown=timedelta(minutes=15),
        stale_after=timedelta(minutes=2),
        protections=Protections(),
        bar_minutes=60,
    )
    settings = Settings()
    defaults = risk_from_settings(settings.risk, settings.strategy)
    assert (defaults.trade_fraction, defaults.minimum, defaults.stale_after) == (
        Decimal("0.15"),
        Decimal("10.00"),
        timedelta(minutes=5),
    )


def test_limits_that_can_never_trade_are_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match=r"KRIPTO_MAX_TRADE_GBP \(5\) must be at least"):
        Settings(max_trade_gbp=Decimal("5"))
    with pytest.raises(ValidationError, match="must be a fraction above 0 and at most 1"):
        Settings(trade_fraction=Decimal("1.5"))
    with pytest.raises(ValidationError, match="must be a positive duration"):
        Settings(cooldown="-1m")
