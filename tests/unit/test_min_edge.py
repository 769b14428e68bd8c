"""The min-edge gate (KRIPTO_MIN_EDGE): a strategy's buy or sell must expect a move to its own
target of more than the round-trip fee times the margin, in the shared decision code, so the
live decider and the backtester agree; protective exits are never gated."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from kripto.backtest.engine import run_backtest
from kripto.decisions import decide
from kripto.protections import Protections, ProtectionState
from kripto.risk import RiskSettings
from kripto.settings import Settings
from kripto.strategies.zscore import ZScore
from tests.unit.test_decide import NOW, rates, wallet

#: A 10-minute z-score sees the newest price 2.74 standard deviations below its mean: a buy
#: that expects the 0.64% back to the mean.
PRICES = ["50000.00", "50100.00"] * 10 + ["49700.00"]
FEE = Decimal("0.002")  # a round trip of 0.40%


def decided(margin: str, **risk: object) -> tuple[str, str]:
    decision = decide(
        decision_id="d",
        product_id="BTC-GBP",
        tick_time=NOW,
        rates=rates(PRICES),
        wallet=wallet(),
        recent_trades=[],
        strategy=ZScore(10, 1.5),
        risk=RiskSettings(min_edge=Decimal(margin), **risk),  # type: ignore[arg-type]
        fee_rate=FEE,
    )
    return decision.action, decision.reason


def test_a_signal_that_does_not_clear_the_margin_is_a_hold_with_the_numbers() -> None:
    assert decided("2") == (
        "hold",
        "hold: z-score -2.74 says buy, but the expected move 0.64% does not clear 2× the"  # noqa: RUF001
        " round-trip fee 0.40%",
    )
    assert decided("1.5")[0] == "buy"  # 0.64% clears 1.5 times 0.40%


def test_the_backtester_gates_the_same_signal() -> None:
    prices = np.array([float(p) for p in PRICES])
    for margin, trades in (("2", 0), ("1.5", 1)):
        result = run_backtest(
            prices,
            ZScore(10, 1.5),
            RiskSettings(min_edge=Decimal(margin)),
            fee_rate=FEE,
            gbp=Decimal(1000),
        )
        assert len(result.trades) == trades, margin


def test_protective_exits_are_never_gated() -> None:
    state = ProtectionState(entry_price=Decimal("60000"))
    decision = decide(
        decision_id="d",
        product_id="BTC-GBP",
        tick_time=NOW,
        rates=rates(PRICES),
        wallet=wallet(btc="0.01"),
        recent_trades=[],
        strategy=ZScore(10, 1.5),
        risk=RiskSettings(
            min_edge=Decimal(1000), protections=Protections(stop_loss=Decimal("0.1"))
        ),
        fee_rate=FEE,
        protection=state,
    )
    assert decision.action == "sell" and decision.protection == "stop-loss"


def test_the_setting_is_a_multiple_of_at_least_one() -> None:
    assert Settings(_env_file=None).risk.min_edge == Decimal(2)
    with pytest.raises(ValueError, match="at least 1"):
        Settings(_env_file=None, min_edge="0.5")
