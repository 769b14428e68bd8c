"""DCA as a strategy: a set amount every interval, more in dips, in backtests and live."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from kripto.backtest.engine import run_backtest
from kripto.decisions import decide
from kripto.models import Side
from kripto.risk import PastTrade, RiskSettings
from kripto.strategies import build
from kripto.strategies.series import Spaced
from tests.unit.test_decide import NOW, rates, wallet

DAYS_2019 = slice(13_164, 13_164 + 60 * 24)  # 2019-01-01 12:00 and 60 days on


def dca_backtest(series: Spaced, dip: str) -> list[tuple[Side, Decimal, int]]:
    result = run_backtest(
        series.prices[DAYS_2019],
        build("dca", {"every": "1d", "amount": "20", "dip": dip}),
        RiskSettings(),
        fee_rate=Decimal("0.012"),
        gbp=Decimal(10_000),
        start=series.start + timedelta(hours=DAYS_2019.start),
        step=60,
    )
    return [(t.fill.side, t.fill.executed_value + t.fill.fill_fees, t.index) for t in result.trades]


def test_dca_buys_its_amount_once_a_day(sample_series: Spaced) -> None:
    buys = dca_backtest(sample_series, "0")
    assert len(buys) == 60
    assert {side for side, _, _ in buys} == {Side.BUY}
    assert all(Decimal("19.99") <= cost <= Decimal("20.00") for _, cost, _ in buys)
    assert [index for _, _, index in buys] == [24 * day for day in range(60)]


def test_the_dip_weighting_buys_more_below_the_mean(sample_series: Spaced) -> None:
    weighted = dca_backtest(sample_series, "5")
    plain = dca_backtest(sample_series, "0")
    # The dip's 3-day mean warms up first (72 hours), then a buy a day.
    assert [index for _, _, index in weighted] == [71 + 24 * day for day in range(58)]
    assert max(cost for _, cost, _ in weighted) > Decimal("21")
    assert min(cost for _, cost, _ in weighted) >= Decimal("19.99")
    assert sum(c for _, c, _ in weighted) > sum(c for _, c, _ in plain[2:])


def test_dca_live_buys_then_waits_for_its_interval() -> None:
    strategy = build("dca", {"every": "1d", "amount": "20"})

    def run(trades: list[PastTrade]) -> tuple[str, str]:
        d = decide(
            decision_id="d",
            product_id="BTC-GBP",
            tick_time=NOW,
            rates=rates(["50000.00"] * 3),
            wallet=wallet(),
            recent_trades=trades,
            strategy=strategy,
            risk=RiskSettings(),
            fee_rate=Decimal("0.012"),
        )
        return d.action, d.reason

    assert run([]) == ("buy", "buy: dca signal at 50000.00; buy £20.00")
    earlier = [PastTrade(NOW - timedelta(hours=3), Side.BUY, Decimal(20), "BTC-GBP")]
    assert run(earlier) == ("hold", "hold: dca: last buy 3h ago; buys every 1d")
    yesterday = [PastTrade(NOW - timedelta(hours=24), Side.BUY, Decimal(20), "BTC-GBP")]
    assert run(yesterday)[0] == "buy"
