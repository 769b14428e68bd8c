"""More than one market: the wallet keyed by currency, money in its own currency, and guards per
product (the cooldown) and per quote currency (the daily spend limit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kripto.models import Balance, Side, TradeRequest, Wallet
from kripto.money import fmt_money, fmt_size
from kripto.risk import Holdings, PastTrade, RiskSettings, Sized, size_trade

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
RISK = RiskSettings(
    min_order_gbp=Decimal("10"),
    max_trade_gbp=Decimal("100"),
    daily_spend_limit_gbp=Decimal("200"),
    cooldown=timedelta(minutes=30),
)


def balance(amount: str) -> Balance:
    value = Decimal(amount)
    return Balance(id=f"id-{amount}", balance=value, hold=Decimal(0), available=value)


def test_the_seed_wallet_keeps_its_shape_and_other_currencies_stand_beside_it() -> None:
    seed = {
        "gbp": {"id": "g", "balance": "990.5", "hold": "0", "available": "990.5"},
        "btc": {"id": "b", "balance": "0.001", "hold": "0", "available": "0.001"},
    }
    recorded = Wallet.model_validate(seed)  # a result recorded before several markets
    assert recorded.to_json_dict() == seed
    assert list(recorded.balances()) == ["GBP", "BTC"]

    wallet = Wallet.of({"GBP": balance("1000"), "ETH": balance("0.5"), "EUR": balance("7")})
    assert list(wallet.to_json_dict()) == ["gbp", "btc", "eth", "eur"]
    assert wallet.to_json_dict()["eth"] == {
        "id": "id-0.5",
        "balance": "0.5",
        "hold": "0",
        "available": "0.5",
    }
    assert wallet.btc.balance == Decimal(0)  # the seed's two are always there
    assert list(wallet.balances()) == ["GBP", "BTC", "ETH", "EUR"]
    assert wallet.balance("eth").available == Decimal("0.5")
    assert wallet.balance("SOL").balance == Decimal(0)
    assert Wallet.model_validate_json(wallet.model_dump_json()) == wallet


def test_money_shows_its_own_currency() -> None:
    assert fmt_money(Decimal("10"), "GBP") == "£10.00"
    assert fmt_money(Decimal("10"), "EUR") == "€10.00"
    assert fmt_money(Decimal("1234.565"), "USD") == "$1,234.56"
    assert fmt_money(Decimal("10"), "USDC") == "10.00 USDC"
    assert fmt_money(Decimal("-9.995"), "EUR", signed=True) == "-€10.00"
    assert fmt_size(Decimal("0.00497512"), "ETH", signed=True) == "+0.00497512 ETH"
    request = TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00"), product_id="ETH-EUR")
    assert request.summary == "BUY €10.00 ETH-EUR"
    assert TradeRequest(trade_type=Side.SELL, amount=Decimal("5")).summary == "SELL £5.00 BTC-GBP"


def past(product: str, minutes_ago: int, gbp: str = "50.25") -> PastTrade:
    return PastTrade(NOW - timedelta(minutes=minutes_ago), Side.BUY, Decimal(gbp), product)


def size(product: str, recent: list[PastTrade], quote: str = "1000") -> Sized:
    return size_trade(
        Side.BUY,
        product_id=product,
        price=Decimal("2000"),
        holdings=Holdings(Decimal(quote), Decimal(0)),
        recent_trades=recent,
        now=NOW,
        edge=0.05,
        fee_rate=Decimal("0.005"),
        risk=RISK,
    )


def test_the_cooldown_is_per_product() -> None:
    recent = [past("BTC-GBP", 1)]
    assert size("ETH-GBP", recent) == Sized(Decimal("100"), None)
    assert size("BTC-GBP", recent) == Sized(
        Decimal(0), "cooldown: last trade 1 min ago (needs 30 min)"
    )


def test_the_daily_limit_counts_every_market_in_its_quote_currency() -> None:
    recent = [past("BTC-GBP", 120, "100.50"), past("ETH-GBP", 60, "60.00")]
    # £200 - £160.50 = £39.50 of room left for either market
    assert size("ETH-GBP", recent) == Sized(Decimal("39.50"), None)
    recent.append(past("BTC-GBP", 45, "39.50"))
    assert size("ETH-GBP", recent) == Sized(
        Decimal(0), "daily spend limit reached: £200.00 of £200.00"
    )


def test_reasons_name_the_quote_currency() -> None:
    assert size("ETH-EUR", [], quote="5") == Sized(
        Decimal(0), "not enough to buy: €5.00 EUR available, minimum order €10.00"
    )
