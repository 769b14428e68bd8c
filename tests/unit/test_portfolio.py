"""P&L arithmetic with exact Decimals: average cost, fees, realised and unrealised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from kripto.models import Side
from kripto.portfolio import Fill, Position, buy_and_hold, dca_series, position, value_series

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fill(minutes: int, side: Side, btc: str, value: str, fees: str) -> Fill:
    return Fill(T0 + timedelta(minutes=minutes), side, D(btc), D(value), D(fees))


BUY1 = fill(0, Side.BUY, "0.01", "100.00", "0.50")  # at 10,000
BUY2 = fill(10, Side.BUY, "0.01", "120.00", "0.60")  # at 12,000
SELL = fill(20, Side.SELL, "0.01", "130.00", "0.65")  # at 13,000


def test_buys_carry_their_cost_with_fees() -> None:
    held = position([BUY2, BUY1])  # order of the list does not matter: by time
    assert held == Position(
        btc=D("0.02"), cost=D("221.10"), cash=D("-221.10"), realised=D(0), fees=D("1.10")
    )
    assert held.unrealised(D("11000")) == D("-1.10")
    assert held.value(D("1000.00"), D("11000")) == D("998.90")


def test_a_sell_realises_proceeds_less_fee_minus_average_cost() -> None:
    held = position([BUY1, BUY2, SELL])
    # Half the BTC sold: half the cost (110.55) against 130.00 - 0.65.
    assert held.realised == D("18.80")
    assert held.btc == D("0.01")
    assert held.cost == D("110.55")
    assert held.fees == D("1.75")
    assert held.cash == D("-91.75")
    assert held.unrealised(D("13000")) == D("19.45")
    assert held.value(D("1000.00"), D("13000")) == D("1038.25")


def test_selling_btc_held_from_before_costs_nothing() -> None:
    held = position([fill(0, Side.SELL, "0.01", "100.00", "0.50")])
    assert held.realised == D("99.50")
    assert held.btc == D("-0.01")


def test_buy_and_hold_from_the_first_trade() -> None:
    assert buy_and_hold(D("1000.00"), D("10000"), D("13000")) == D("1300")


def test_value_series_walks_trades_and_rates_together() -> None:
    rates = [
        (T0 - timedelta(minutes=1), D("9000")),
        (T0, D("10000")),
        (T0 + timedelta(minutes=15), D("12000")),
        (T0 + timedelta(minutes=30), D("13000")),
    ]
    series = value_series([BUY1, BUY2, SELL], D("1000.00"), rates)
    assert series == [
        (rates[0][0], D("1000.00"), None),
        (rates[1][0], D("999.50"), D("1000")),
        (rates[2][0], D("1018.90"), D("1200")),
        (rates[3][0], D("1038.25"), D("1300")),
    ]


def test_dca_beside_buy_and_hold_spends_the_money_in_equal_daily_buys() -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    rates = [
        (first + timedelta(hours=12 * i), D(p))
        for i, p in enumerate(["100", "50", "200", "100", "100"])
    ]
    # Two days from the first trade to the newest rate: £500 at 100 on day one, £500 at 200 on
    # day two (each day's first rate), so 5 + 2.5 coins.
    values = dca_series(D(1000), first, rates)
    assert [v for _, v in values] == [
        D(1000),  # 500 cash + 5 coins at 100
        D(750),  # 500 + 5 at 50
        D(1500),  # 7.5 coins at 200
        D(750),
        D(750),
    ]
    assert dca_series(D(1000), None, rates) == []


def test_buy_and_hold_pays_the_taker_fee_as_the_backtesters_does() -> None:
    # £1,000 at £10,000 with a 1.2% fee: 0.09881422 BTC for £988.14 and a £11.86 fee (a
    # hundredth of a penny left over); at £13,000 that is £1,284.58, not the fee-free £1,300.
    held = buy_and_hold(D("1000.00"), D("10000"), D("13000"), D("0.012"))
    assert held.quantize(D("0.01")) == D("1284.58")
    assert held < buy_and_hold(D("1000.00"), D("10000"), D("13000"))
    rates = [(BUY1.at, D("10000")), (BUY1.at + timedelta(days=1), D("13000"))]
    series = value_series([BUY1], D("1000.00"), rates, D("0.012"))
    assert series[-1][2] == held
