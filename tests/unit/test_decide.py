"""The decider end to end in pure code: stale data, too little history, a signal through the
guards, and a decision small enough for workflow history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kripto.decisions import decide
from kripto.models import Balance, Decision, Order, Rate, Side, Wallet
from kripto.risk import PastTrade, RiskSettings
from kripto.strategies.ema_cross import EmaCross
from kripto.strategies.series import PriceHistory

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
RISING = ["50000.00"] * 10 + ["57000.00"]  # flat, then a jump at the newest minute: a buy


def wallet(gbp: str = "1000.00", btc: str = "0") -> Wallet:
    return Wallet(
        gbp=Balance(id="g", balance=Decimal(gbp), hold=Decimal(0), available=Decimal(gbp)),
        btc=Balance(id="b", balance=Decimal(btc), hold=Decimal(0), available=Decimal(btc)),
    )


def rates(prices: list[str], end: datetime = NOW) -> list[Rate]:
    start = end - timedelta(minutes=len(prices) - 1)
    return [
        Rate(rate=Decimal(p), date_time=start + timedelta(minutes=i), source="simulated")
        for i, p in enumerate(prices)
    ]


def run(
    prices: list[Rate] | PriceHistory,
    strategy: EmaCross | None = None,
    w: Wallet | None = None,
    trades: list[Order] | None = None,
    risk: RiskSettings | None = None,
) -> Decision:
    return decide(
        decision_id="decide-BTC-GBP-2026-11-24T12:00:00Z",
        product_id="BTC-GBP",
        tick_time=NOW,
        rates=prices,
        wallet=w or wallet(),
        recent_trades=[PastTrade.of(t) for t in trades or []],
        strategy=strategy or EmaCross(2, 5),
        risk=risk or RiskSettings(daily_spend_limit_gbp=Decimal("1000")),
        fee_rate=Decimal("0.005"),
    )


def test_too_little_history_holds_and_says_how_much_is_missing() -> None:
    decision = run(rates(["100"] * 312), EmaCross(360, 1440))
    assert decision.action == "hold"
    assert decision.reason == "hold: 312 of 2,880 points needed for the long EMA"


def test_no_rates_holds() -> None:
    assert run([]).reason == "hold: no rates stored yet"


def test_a_long_gap_in_the_window_holds_and_says_how_long() -> None:
    """Two rates ten minutes apart fill the window, but nine of its minutes were never seen."""
    gappy = [r for i, r in enumerate(rates(RISING)) if i in (0, 10)]
    decision = run(gappy, risk=RiskSettings(max_gap=timedelta(minutes=5)))
    assert decision.action == "hold"
    assert decision.reason == (
        "hold: gap in the rates: 9 minutes in a row without a rate within the last 10 that the"
        " long EMA uses (limit 5)"
    )
    # With every minute seen, the same prices buy.
    assert run(rates(RISING), risk=RiskSettings(max_gap=timedelta(minutes=5))).action == "buy"


def test_a_short_gap_is_filled_and_the_signal_stands() -> None:
    few_missing = [r for i, r in enumerate(rates(RISING)) if i not in (7, 8)]
    assert run(few_missing, risk=RiskSettings(max_gap=timedelta(minutes=5))).action == "buy"


def test_stale_data_holds() -> None:
    decision = run(rates(RISING, end=NOW - timedelta(minutes=12)))
    assert decision.action == "hold"
    assert decision.reason == "hold: stale data: the newest rate is 12 min old (limit 5 min)"


def test_a_cross_at_the_newest_point_buys_15_percent_of_the_gbp() -> None:
    decision = run(rates(RISING))
    assert decision.action == "buy"
    assert decision.amount == Decimal("150.00")
    assert decision.reason == "buy: ema_cross signal at 57000.00; buy £150.00"
    assert decision.params == {"short": "2", "long": "5"}
    # span 2: 50000 + 2/3 * 7000; span 5: 50000 + 1/3 * 7000; edge: the long EMA's move over
    # its span, 2333.33 / 52333.33 (well above the 1% round-trip fee).
    assert decision.indicators == {
        "ema_short": "54666.7",
        "ema_long": "52333.3",
        "edge": "0.044586",
    }
    assert len(decision.model_dump_json()) < 2_000  # it goes into workflow history


def test_the_same_rates_in_any_order_decide_the_same() -> None:
    ordered = rates(RISING)
    assert run(list(reversed(ordered))) == run(ordered)


def test_a_signal_the_guards_refuse_is_a_hold_with_both_reasons() -> None:
    decision = run(rates(RISING), w=wallet(gbp="5.00"))
    assert decision.action == "hold"
    assert decision.amount == 0
    assert decision.reason == (
        "hold: ema_cross said buy, but not enough to buy: £5.00 GBP available, minimum order £10.00"
    )


def test_no_signal_is_a_hold() -> None:
    decision = run(rates(["50000.00"] * 11))
    assert (
        decision.reason == "hold: short EMA +0.000% from the long EMA (sell when it crosses below)"
    )


def test_a_sell_signal_sells_15_percent_of_the_btc_value_at_the_newest_rate() -> None:
    falling = rates(["50000.00"] * 10 + ["40000.00"])
    decision = run(falling, w=wallet(gbp="0", btc="0.01"))
    # 0.01 BTC at £40,000.00 is £400.00; 15% is £60.00.
    assert (decision.action, decision.amount) == ("sell", Decimal("60.00"))
    assert decision.reason == "sell: ema_cross signal at 40000.00; sell £60.00"


def test_a_signal_inside_the_cooldown_is_a_hold_with_the_guard_reason() -> None:
    last = Order(
        id="o",
        side=Side.BUY,
        product_id="BTC-GBP",
        funds=Decimal("50"),
        settled=True,
        created_at=NOW - timedelta(minutes=4),
        fill_fees=Decimal("0.25"),
        filled_size=Decimal("0.001"),
        executed_value=Decimal("50"),
        client_order_id="k",
    )
    decision = run(rates(RISING), trades=[last])
    assert (decision.action, decision.amount) == ("hold", Decimal(0))
    assert decision.reason == (
        "hold: ema_cross said buy, but cooldown: last trade 4 min ago (needs 30 min)"
    )


def test_missing_minutes_are_forward_filled_and_do_not_shift_the_windows() -> None:
    full = rates(RISING)
    gappy = [r for i, r in enumerate(full) if i not in (3, 4, 7)]  # flat minutes missing
    assert run(gappy) == run(full)
    # The gaps still count as minutes: 11 points, two spans of the 5-minute EMA and more.
    assert run(gappy).action == "buy"
    assert run(gappy[2:]).reason == "hold: 9 of 10 points needed for the long EMA"


def test_arrays_from_postgres_decide_exactly_as_rates_do() -> None:
    """The live decider passes a PriceHistory; every path gives the same decision as Rates."""
    falling = rates(["50000.00"] * 10 + ["40000.00"])
    cases = [
        (rates(RISING), None),
        (falling, wallet(gbp="0", btc="0.01")),
        (rates(RISING, end=NOW - timedelta(minutes=12)), None),
        ([r for i, r in enumerate(rates(RISING)) if i in (0, 10)], None),
        ([], None),
    ]
    for prices, w in cases:
        as_arrays = PriceHistory.of(list(reversed(prices)))
        assert run(as_arrays, w=w) == run(prices, w=w)


def test_the_ticks_own_rate_is_added_only_when_newer_than_the_stored_ones() -> None:
    stored = rates(RISING)
    history = PriceHistory.of(stored[:-1])
    added = history.with_newer(stored[-1])
    assert added.prices.tolist() == [50000.0] * 10 + [57000.0]
    assert (added.newest_time, added.newest_rate) == (NOW, Decimal("57000.00"))
    again = PriceHistory.of(stored).with_newer(stored[-1])
    assert len(again) == 11 and again.newest_rate == Decimal("57000.00")
    assert len(PriceHistory.of([]).with_newer(stored[0])) == 1
