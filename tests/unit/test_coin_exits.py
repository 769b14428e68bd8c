"""Exits sized in coins (issue 23): a sell decided as the whole position carries the coins held,
from the decision to the trade request, so it is never turned back into coins from a GBP figure
at a later price; the user's trade request takes them strictly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from kripto.decisions import decide
from kripto.errors import InvalidInput
from kripto.inputs import parse_trade_request
from kripto.models import Decision, MarketTrade, Side, TradeRequest
from kripto.protections import Protections, ProtectionState
from kripto.risk import RiskSettings
from kripto.strategies.ema_cross import EmaCross
from tests.unit.test_decide import NOW, rates, wallet


def decided(
    prices: list[str], *, btc: str, risk: RiskSettings, state: ProtectionState | None = None
) -> Decision:
    return decide(
        decision_id="d",
        product_id="BTC-GBP",
        tick_time=NOW,
        rates=rates(prices),
        wallet=wallet(gbp="500.00", btc=btc),
        recent_trades=[],
        strategy=EmaCross(2, 5),
        risk=risk,
        fee_rate=Decimal("0.005"),
        protection=state,
    )


def test_a_stop_loss_exit_carries_the_coins_held() -> None:
    """0.01 BTC held, the stop decided at £60,000.00: £600.00, and 0.01 BTC to sell."""
    decision = decided(
        ["60000.00"] * 11,
        btc="0.01",
        risk=RiskSettings(protections=Protections(stop_loss=Decimal("0.1"))),
        state=ProtectionState(entry_price=Decimal("70000")),
    )
    assert (decision.action, decision.amount, decision.base_size, decision.protection) == (
        "sell",
        Decimal("600.00"),
        Decimal("0.01"),
        "stop-loss",
    )
    # It travels in the tick's result and on into the trade's request.
    trade = MarketTrade.model_validate(
        {"decisionId": "d", "productId": "BTC-GBP", "action": "sell", "amount": "600.00"}
        | {"baseSize": "0.01"}
    )
    assert trade.base_size == Decimal("0.01")
    request = TradeRequest(trade_type=Side.SELL, amount=trade.amount, base_size=trade.base_size)
    assert request.summary == "SELL 0.01000000 BTC BTC-GBP"
    assert request.to_json_dict()["baseSize"] == "0.01"


def test_a_strategy_sell_of_everything_is_sized_in_coins_and_part_of_it_in_pounds() -> None:
    falling = ["50000.00"] * 10 + ["40000.00"]
    whole = decided(falling, btc="0.01", risk=RiskSettings(trade_fraction=Decimal(1)))
    assert (whole.action, whole.amount, whole.base_size) == (
        "sell",
        Decimal("400.00"),
        Decimal("0.01"),
    )
    part = decided(falling, btc="0.01", risk=RiskSettings())
    assert (part.action, part.amount, part.base_size) == ("sell", Decimal("60.00"), None)


def test_old_payloads_parse_and_the_books_copy_still_matches() -> None:
    old = TradeRequest.model_validate({"tradeType": "sell", "amount": "600.00"})
    assert old.base_size is None
    assert (
        MarketTrade.model_validate(
            {"decisionId": "d", "productId": "BTC-GBP", "action": "sell", "amount": "600.00"}
        ).base_size
        is None
    )
    coins = old.model_copy(update={"base_size": Decimal("0.01")})
    assert coins.same_trade(old) and old.same_trade(coins)  # the books keep no coins
    assert not coins.same_trade(coins.model_copy(update={"base_size": Decimal("0.02")}))
    with pytest.raises(ValidationError, match="baseSize \\(coins\\) is for a sell only"):
        TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00"), base_size=Decimal("0.01"))


def test_a_persons_request_takes_coins_as_strict_text() -> None:
    request = parse_trade_request(
        [{"tradeType": "sell", "amount": "600.00", "baseSize": "0.01000000"}]
    )
    assert request.base_size == Decimal("0.01")
    for bad, why in [
        (0.01, "baseSize: must be plain decimal text with at most 8 decimal places"),
        ("0.000000001", "baseSize: must be plain decimal text with at most 8 decimal places"),
        ("0", "baseSize: must be plain decimal text with at most 8 decimal places"),
        ("1e-2", "baseSize: must be plain decimal text with at most 8 decimal places"),
    ]:
        with pytest.raises(InvalidInput, match=why):
            parse_trade_request([{"tradeType": "sell", "amount": "600.00", "baseSize": bad}])
    with pytest.raises(InvalidInput, match="is for a sell only"):
        parse_trade_request([{"tradeType": "buy", "amount": "10.00", "baseSize": "0.01"}])
