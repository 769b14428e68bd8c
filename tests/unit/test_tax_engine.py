"""The tax engine against HMRC's own worked examples (to the pound), the rules around them, and
two properties: the order trades are recorded in changes nothing, and a same-day round trip at
one price with no fee gains nothing."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from kripto.errors import InvalidInput
from kripto.tax.engine import Result, Side, Totals, Trade, compute, pounds, year_report
from kripto.tax.years import TaxYear, parse_tax_year
from tests.unit.hmrc_examples import EXAMPLES, Example

D = Decimal


def computed(example: Example) -> list[tuple[object, ...]]:
    result = compute(example.trades)
    return [
        (
            d.day,
            d.proceeds_pounds,
            d.cost_pounds,
            d.gain_pounds,
            tuple((m.rule, m.quantity, m.acquired, m.cost_pounds) for m in d.matches),
        )
        for d in result.disposals
    ]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.ref for e in EXAMPLES])
def test_hmrc_worked_example(example: Example) -> None:
    expected = [(e.day, e.proceeds, e.costs, e.gain, e.matches) for e in example.disposals]
    assert computed(example) == expected
    pool = compute(example.trades).pools["TOKEN"]
    assert (pool.quantity, pounds(pool.cost)) == example.pool


def test_a_days_disposals_are_one_disposal_and_fees_are_allowable_costs() -> None:
    at = datetime(2025, 6, 2, 9, tzinfo=UTC)
    trades = [
        Trade("b", "BTC", Side.BUY, at - timedelta(days=60), D("0.02"), D("1000.00"), D("6.00")),
        Trade("s1", "BTC", Side.SELL, at, D("0.005"), D("300.00"), D("1.80")),
        Trade("s2", "BTC", Side.SELL, at + timedelta(hours=5), D("0.005"), D("310.00"), D("1.86")),
    ]
    [disposal] = compute(trades).disposals
    assert disposal.refs == ("s1", "s2")
    assert (disposal.quantity, disposal.proceeds, disposal.fees) == (D("0.01"), D(610), D("3.66"))
    # Half the pool: (£1,000 + the £6 fee) / 2 = £503, plus the sale fees £3.66.
    assert disposal.cost == D("506.66")
    assert (disposal.proceeds_pounds, disposal.cost_pounds, disposal.gain_pounds) == (
        D(610),
        D(507),
        D(103),
    )


def test_the_uk_day_decides_same_day_not_utc() -> None:
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST): same day as a 1 July sale.
    trades = [
        Trade("b0", "BTC", Side.BUY, datetime(2025, 1, 6, tzinfo=UTC), D(1), D(100)),
        Trade("b1", "BTC", Side.BUY, datetime(2025, 6, 30, 23, 30, tzinfo=UTC), D(1), D(500)),
        Trade("s", "BTC", Side.SELL, datetime(2025, 7, 1, 10, tzinfo=UTC), D(1), D(600)),
    ]
    [disposal] = compute(trades).disposals
    assert [(m.rule.value, m.acquired) for m in disposal.matches] == [
        ("same day", date(2025, 7, 1))
    ]
    assert disposal.gain == D(100)


def test_day_31_is_outside_the_thirty_day_window() -> None:
    def sale_cost(repurchase: date) -> Decimal:
        trades = [
            Trade("b0", "X", Side.BUY, datetime(2025, 1, 6, 12, tzinfo=UTC), D(10), D(100)),
            Trade("s", "X", Side.SELL, datetime(2025, 5, 1, 12, tzinfo=UTC), D(2), D(60)),
            Trade(
                "b1",
                "X",
                Side.BUY,
                datetime.combine(repurchase, datetime.min.time(), UTC) + timedelta(hours=12),
                D(2),
                D(90),
            ),
        ]
        return compute(trades).disposals[0].cost

    assert sale_cost(date(2025, 5, 31)) == D(90)  # day 30: bed and breakfast
    assert sale_cost(date(2025, 6, 1)) == D(20)  # day 31: the pool, £100 x 2/10


def test_selling_more_than_the_pool_holds_is_refused_naming_the_shortfall() -> None:
    trades = [
        Trade("b", "BTC", Side.BUY, datetime(2025, 5, 1, tzinfo=UTC), D(1), D(100)),
        Trade("s", "BTC", Side.SELL, datetime(2025, 8, 1, tzinfo=UTC), D(2), D(300)),
    ]
    with pytest.raises(InvalidInput) as raised:
        compute(trades)
    assert str(raised.value) == (
        "BTC: the disposal of 2 on 2025-08-01 needs 2 from the Section 104 pool, which holds 1:"
        " an acquisition is missing from the trades"
    )


def test_tax_years_annual_exempt_amounts_and_the_2024_25_rate_change() -> None:
    assert [
        (y, str(parse_tax_year(y).annual_exempt_amount))
        for y in ("2022-23", "2023-24", "2024-25", "2025-26")
    ] == [
        ("2022-23", "12300"),
        ("2023-24", "6000"),
        ("2024-25", "3000"),
        ("2025-26", "3000"),
    ]
    year = parse_tax_year("2025-26")
    assert (year.first, year.last) == (date(2025, 4, 6), date(2026, 4, 5))
    assert [p.label for p in parse_tax_year("2024-25").periods] == [
        "6 April 2024 to 29 October 2024",
        "30 October 2024 to 5 April 2025",
    ]
    assert [p.label for p in year.periods] == ["6 April 2025 to 5 April 2026"]
    assert TaxYear.containing(date(2026, 4, 5)).name == "2025-26"
    assert TaxYear.containing(date(2026, 4, 6)).name == "2026-27"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "2025",
            "--year: '2025' is not a UK tax year; write it as YYYY-YY, e.g. 2025-26"
            " (6 April 2025 to 5 April 2026)",
        ),
        (
            "2025-27",
            "--year: '2025-27' is not a UK tax year; a tax year runs 6 April to 5 April, so"
            " the second part is the next year: 2025-26",
        ),
        (
            "2010-11",
            "--year: no annual exempt amount is known for 2010-11; years 2015-16 to 2026-27"
            " are supported",
        ),
    ],
)
def test_a_bad_year_is_refused_naming_the_rule(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_tax_year(text)
    assert str(raised.value) == message


def test_2024_25_reports_disposals_before_and_from_30_october_separately() -> None:
    trades = [
        Trade("b", "BTC", Side.BUY, datetime(2024, 5, 1, 12, tzinfo=UTC), D(4), D(400)),
        Trade("s1", "BTC", Side.SELL, datetime(2024, 10, 29, 12, tzinfo=UTC), D(1), D(150)),
        Trade("s2", "BTC", Side.SELL, datetime(2024, 10, 30, 12, tzinfo=UTC), D(1), D(80)),
        Trade("s3", "BTC", Side.SELL, datetime(2025, 2, 1, 12, tzinfo=UTC), D(1), D(300)),
    ]
    report = year_report(compute(trades), parse_tax_year("2024-25"))
    assert [totals for _, totals in report.periods] == [
        Totals(1, D(150), D(100), D(50), D(0)),
        Totals(2, D(380), D(200), D(200), D(20)),
    ]
    assert report.totals == Totals(3, D(530), D(300), D(250), D(20))
    assert (report.annual_exempt_amount, report.above_exempt_amount) == (D(3000), D(0))
    statement = report.pools["BTC"]
    assert (statement.opening_quantity, statement.closing_quantity, statement.closing_cost) == (
        D(0),
        D(1),
        D(100),
    )


# -- properties ------------------------------------------------------------------------------

START = datetime(2025, 1, 6, 10, tzinfo=UTC)
prices = st.integers(min_value=1, max_value=90_000).map(lambda p: D(p) / 100)
quantities = st.integers(min_value=1, max_value=5_000).map(lambda q: D(q) / 1000)
fees = st.integers(min_value=0, max_value=500).map(lambda f: D(f) / 100)
moves = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=400),  # day after START
        st.sampled_from([Side.BUY, Side.SELL]),
        quantities,
        prices,
        fees,
    ),
    max_size=40,
)


def history(raw: list[tuple[int, Side, Decimal, Decimal, Decimal]]) -> list[Trade]:
    """An opening holding big enough that no sale can outrun the pool, then the moves."""
    trades = [Trade("open", "BTC", Side.BUY, START, D(1000), D(20_000))]
    for n, (day, side, quantity, price, fee) in enumerate(raw):
        at = START + timedelta(days=day, minutes=n)
        trades.append(Trade(f"t{n}", "BTC", side, at, quantity, quantity * price, fee))
    return trades


def everything(result: Result) -> tuple[object, ...]:
    years = sorted({TaxYear.containing(d.day).start_year for d in result.disposals})
    pool = result.pools["BTC"]
    return (
        tuple(year_report(result, TaxYear(y)).totals for y in years),
        tuple((d.day, d.quantity, d.proceeds, d.cost) for d in result.disposals),
        pool.quantity,
        pool.cost,
    )


@hypothesis_settings(max_examples=100, deadline=None)
@given(moves, st.randoms(use_true_random=False))
def test_totals_do_not_depend_on_the_order_trades_are_recorded_in(
    raw: list[tuple[int, Side, Decimal, Decimal, Decimal]], rnd: random.Random
) -> None:
    trades = history(raw)
    shuffled = list(trades)
    rnd.shuffle(shuffled)
    # Within a day the time of a trade does not matter either: the day is one transaction.
    shuffled = [
        Trade(
            t.ref,
            t.asset,
            t.side,
            t.at.replace(hour=rnd.randint(8, 20)),
            t.quantity,
            t.value,
            t.fee,
        )
        for t in shuffled
    ]
    assert everything(compute(shuffled)) == everything(compute(trades))


@hypothesis_settings(max_examples=100, deadline=None)
@given(moves, st.integers(min_value=1, max_value=400), quantities, prices)
def test_a_same_day_round_trip_at_one_price_without_fees_gains_nothing(
    raw: list[tuple[int, Side, Decimal, Decimal, Decimal]],
    day: int,
    quantity: Decimal,
    price: Decimal,
) -> None:
    raw = [m for m in raw if m[0] != day]  # the round trip has its day to itself
    before = compute(history(raw))
    at = START + timedelta(days=day, hours=2)
    trip = [
        Trade("rt-buy", "BTC", Side.BUY, at, quantity, quantity * price),
        Trade("rt-sell", "BTC", Side.SELL, at + timedelta(hours=3), quantity, quantity * price),
    ]
    after = compute(history(raw) + trip)
    [round_trip] = [d for d in after.disposals if d.refs == ("rt-sell",)]
    assert (round_trip.gain, round_trip.gain_pounds) == (D(0), D(0))
    # Every other disposal is matched exactly as before, and the pool is untouched.
    others = [(d.day, d.cost) for d in after.disposals if d.refs != ("rt-sell",)]
    assert others == [(d.day, d.cost) for d in before.disposals]
    assert (after.pools["BTC"].quantity, after.pools["BTC"].cost) == (
        before.pools["BTC"].quantity,
        before.pools["BTC"].cost,
    )


def test_the_2024_25_report_has_a_column_for_each_side_of_the_rate_change() -> None:
    from kripto.tax.report import report_json, report_text

    trades = [
        Trade("b", "BTC", Side.BUY, datetime(2024, 5, 1, 12, tzinfo=UTC), D(4), D(400)),
        Trade("s1", "BTC", Side.SELL, datetime(2024, 10, 29, 12, tzinfo=UTC), D(1), D(150)),
        Trade("s2", "BTC", Side.SELL, datetime(2024, 10, 30, 12, tzinfo=UTC), D(1), D(80)),
    ]
    text = report_text(report_json(year_report(compute(trades), parse_tax_year("2024-25"))))
    summary = text.split("Self Assessment capital gains summary (cryptoassets)\n")[1]
    assert summary.splitlines()[:8] == [
        "                                                6 April 2024 to 29 October 2024"
        "  30 October 2024 to 5 April 2025",
        "Number of disposals                                                           1"
        "                                1",
        "Disposal proceeds                                                          £150"
        "                              £80",
        "Allowable costs (including the purchase price)                             £100"
        "                             £100",
        "Gains in the year, before losses                                            £50"
        "                               £0",
        "Losses in the year                                                           £0"
        "                              £20",
        "CGT rates changed on 30 October 2024: disposals before it and from it are reported"
        " separately.",
        "",
    ]
