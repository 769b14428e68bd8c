"""The tax engine against HMRC's own worked examples (to the pound), the rules around them, and
two properties: the order trades are recorded in changes nothing, and a same-day round trip at
one price with no fee gains nothing."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from kripto.errors import InvalidInput
from kripto.tax.engine import (
    Result,
    Side,
    Totals,
    Trade,
    compute,
    pounds,
    pounds_up,
    year_report,
)
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
    summary = text.split("Self Assessment: cryptoassets (SA108)\n")[1]
    assert summary.splitlines()[:11] == [
        "                       6 Apr-29 Oct  30 Oct-5 Apr  Whole year",
        "Number of disposals               1             1           2",
        "Disposal proceeds              £150           £80        £230",
        "  exact, to the penny       £150.00        £80.00     £230.00",
        "Allowable costs                £100          £100        £200",
        "  exact, to the penny       £100.00       £100.00     £200.00",
        "Gains before losses             £50            £0         £50",
        "  exact, to the penny        £50.00         £0.00      £50.00",
        "Losses                           £0           £20         £20",
        "  exact, to the penny         £0.00        £20.00      £20.00",
        "",
    ]
    assert max(len(line) for line in text.splitlines()) <= 80


# -- rounding once, allowances, files ----------------------------------------------------------


def bot_year(seed: int = 28, count: int = 2900) -> list[Trade]:
    """A bot-like tax year: an opening holding, then `count` trades of £10 to £100 at a random
    walk of prices, a 1.2% fee on each (to the penny), several a day."""
    rnd = random.Random(seed)
    price = D("48000")
    trades = [
        Trade("open", "BTC", Side.BUY, datetime(2025, 1, 6, 12, tzinfo=UTC), D("0.2"), D(8000))
    ]
    start = datetime(2025, 4, 6, 0, 30, tzinfo=UTC)
    step = timedelta(days=364) / count
    for n in range(count):
        price = (price * (1 + D(rnd.randint(-150, 150)) / 10_000)).quantize(D("0.01"))
        amount = D(rnd.randint(1000, 10000)) / 100
        size = (amount / price).quantize(D("0.00000001"))
        value = (size * price).quantize(D("0.01"))
        fee = (value * D("0.012")).quantize(D("0.01"))
        side = Side.BUY if rnd.random() < 0.5 else Side.SELL
        trades.append(Trade(f"t{n}", "BTC", side, start + step * n, size, value, fee))
    return trades


def write_plain(trades: list[Trade], path: Path) -> None:
    from kripto.tax.files import write_trades_csv

    write_trades_csv(trades, path)


def test_each_box_is_rounded_once_from_the_exact_total_of_a_bot_like_year() -> None:
    report = year_report(compute(bot_year()), parse_tax_year("2025-26"))
    disposals = report.disposals
    exact_proceeds = sum((d.proceeds for d in disposals), D(0))
    exact_costs = sum((d.cost for d in disposals), D(0))
    exact_gains = sum((d.gain for d in disposals if d.gain > 0), D(0))
    exact_losses = -sum((d.gain for d in disposals if d.gain < 0), D(0))
    totals = report.totals
    assert totals.disposals == len(disposals) > 300
    assert (totals.exact.proceeds, totals.exact.costs) == (exact_proceeds, exact_costs)
    assert totals.proceeds == pounds(exact_proceeds)
    assert totals.costs == pounds_up(exact_costs)
    assert (totals.gains, totals.losses) == (pounds(exact_gains), pounds_up(exact_losses))
    # Each box is within a pound of its exact total (adding rounded lines drifted by £100s).
    for box, exact in (
        (totals.proceeds, exact_proceeds),
        (totals.costs, exact_costs),
        (totals.gains, exact_gains),
        (totals.losses, exact_losses),
    ):
        assert abs(box - exact) < 1
    assert sum(d.proceeds_pounds for d in disposals) < totals.proceeds - 100


def test_a_disposals_cost_is_its_exact_cost_rounded_up_and_its_note_adds_up_to_it() -> None:
    from kripto.tax.report import matching_text

    trades = [
        Trade("b", "BTC", Side.BUY, datetime(2025, 5, 1, 12, tzinfo=UTC), D(3), D("100.00")),
        Trade(
            "s", "BTC", Side.SELL, datetime(2025, 8, 1, 12, tzinfo=UTC), D(1), D("50.80"), D("0.25")
        ),
    ]
    [d] = compute(trades).disposals
    # £100 / 3 = £33.333…, plus the £0.25 fee: £33.58 exact; the cost is never the difference
    # of rounded proceeds (£50) and gain (£17), £33, below the real cost.
    assert (d.proceeds_pounds, d.cost_pounds, d.gain_pounds) == (D(50), D(34), D(17))
    assert matching_text(d) == "section 104: 1 (£33.33); fees £0.25"
    assert sum((m.cost for m in d.matches), d.fees) == d.cost


def year_with(sales: list[tuple[str, str]]) -> list[Trade]:
    """A pool that cost nothing, bought long before, then sales of 1 from it: (day, proceeds).
    Each sale's gain is its proceeds."""
    trades = [Trade("b", "BTC", Side.BUY, datetime(2023, 5, 1, tzinfo=UTC), D(100), D(0))]
    for n, (day, proceeds) in enumerate(sales):
        at = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
        trades.append(Trade(f"s{n}", "BTC", Side.SELL, at, D(1), D(proceeds)))
    return trades


@pytest.mark.parametrize(
    ("brought_forward", "used", "taxable", "carried"),
    [("0", "0", "2000", "0"), ("1500", "1500", "500", "0"), ("5000", "2000", "0", "3000")],
)
def test_losses_brought_forward_are_used_only_down_to_the_annual_exempt_amount(
    brought_forward: str, used: str, taxable: str, carried: str
) -> None:
    trades = year_with([("2025-06-01", "5000")])
    report = year_report(compute(trades), parse_tax_year("2025-26"), D(brought_forward))
    a = report.allowances
    assert (a.net_gains, a.brought_forward_used, a.exempt_amount_used, a.taxable) == (
        D(5000),
        D(used),
        D(3000),
        D(taxable),
    )
    assert a.carried_forward == D(carried)


def test_no_losses_brought_forward_are_used_when_the_gains_are_within_the_exemption() -> None:
    trades = year_with([("2025-06-01", "2500")])
    a = year_report(compute(trades), parse_tax_year("2025-26"), D(800)).allowances
    assert (a.brought_forward_used, a.taxable, a.carried_forward) == (D(0), D(0), D(800))
    with pytest.raises(InvalidInput, match="--losses-brought-forward"):
        year_report(compute(trades), parse_tax_year("2025-26"), D(-1))


def test_a_net_loss_carries_forward_with_the_unused_losses_brought_forward() -> None:
    trades = year_with([("2025-06-01", "100")])
    day = datetime(2025, 7, 1, tzinfo=UTC)
    trades += [
        Trade("b2", "BTC", Side.BUY, day.replace(hour=10), D(1), D(600)),
        Trade("s9", "BTC", Side.SELL, day.replace(hour=12), D(1), D(100)),
    ]
    a = year_report(compute(trades), parse_tax_year("2025-26"), D(250)).allowances
    assert (a.net_gains, a.brought_forward_used, a.taxable) == (D(-400), D(0), D(0))
    assert a.carried_forward == D(650)


def test_2024_25_sets_losses_and_the_exemption_against_the_later_gains_first() -> None:
    # £4,000 of gains before 30 October; from it £2,500 of gains and a £500 loss (bought at
    # £600 and sold at £100 on one day). The loss and the £3,000 exempt amount come off the
    # later gains first (taxed at 18%/24%, not 10%/20%), the rest off the earlier ones.
    trades = year_with([("2024-06-01", "4000"), ("2024-11-01", "2500")])
    day = datetime(2025, 3, 1, tzinfo=UTC)
    trades += [
        Trade("b2", "BTC", Side.BUY, day.replace(hour=10), D(1), D(600)),
        Trade("s9", "BTC", Side.SELL, day.replace(hour=12), D(1), D(100)),
    ]
    report = year_report(compute(trades), parse_tax_year("2024-25"))
    a = report.allowances
    assert (report.totals.gains, report.totals.losses, a.net_gains) == (D(6500), D(500), D(6000))
    assert (a.exempt_amount_used, a.taxable) == (D(3000), D(3000))
    assert (a.taxable_before, a.taxable_from) == (D(3000), D(0))


def test_the_plain_csv_and_coinbases_export_are_read_into_trades(tmp_path: Path) -> None:
    from kripto.tax.files import read_trade_file

    plain = tmp_path / "other.csv"
    plain.write_text(
        "time,side,size,value,fee\n"
        "2025-05-01T09:30:00Z,buy,0.01,500.00,6.00\n"
        "\n"
        "2025-06-01 10:00:00,sell,0.005,300,\n"
    )
    found = read_trade_file(plain)
    assert [(t.side, t.quantity, t.value, t.fee, t.at.isoformat()) for t in found.trades] == [
        (Side.BUY, D("0.01"), D("500.00"), D("6.00"), "2025-05-01T09:30:00+00:00"),
        (Side.SELL, D("0.005"), D(300), D(0), "2025-06-01T10:00:00+00:00"),
    ]
    coinbase = tmp_path / "coinbase.csv"
    coinbase.write_text(
        '"You can use this transaction report to inform your likely tax obligations."\n'
        "\n"
        "Transactions\n"
        "User,trader@example.com,0000000000\n"
        "ID,Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,Price at"
        " Transaction,Subtotal,Total (inclusive of fees and/or spread),Fees and/or Spread,Notes\n"
        "a1,2025-04-10 08:00:00 UTC,Buy,BTC,0.002,GBP,£50000.00,£100.00,£101.49,£1.49,Bought\n"
        "a2,2025-04-11 08:00:00 UTC,Send,BTC,-0.001,GBP,£50000.00,-£50.00,-£50.00,£0.00,Sent\n"
        'a3,2025-05-12T08:00:00Z,Advanced Trade Sell,BTC,-0.001,GBP,"£60,000.00",£60.00,'
        "£59.28,£0.72,Sold\n"
    )
    found = read_trade_file(coinbase)
    assert [(t.side, t.quantity, t.value, t.fee) for t in found.trades] == [
        (Side.BUY, D("0.002"), D("100.00"), D("1.49")),
        (Side.SELL, D("0.001"), D("60.00"), D("0.72")),
    ]
    assert found.note == (
        f"{coinbase}: 2 trades (Coinbase transaction history); left out as transfers between"
        " own wallets: 1 Send"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "time,side,size,value,fee\n2025-05-01T09:30:00Z,hold,0.01,500,0\n",
            "line 2: side 'hold' must be buy or sell",
        ),
        (
            "time,side,size,value,fee\n2025-05-01T09:30:00Z,buy,0.01,500,0\n"
            "yesterday,buy,0.01,500,0\n",
            "line 3: time 'yesterday' is not a UTC time such as 2025-05-01T09:30:00Z",
        ),
        (
            "time,side,size,value,fee\n2025-05-01T09:30:00Z,buy,0.01,-5,0\n",
            "line 2: value '-5' must be a number of 0 or more",
        ),
        (
            "Timestamp,Transaction Type,Asset,Quantity Transacted,Spot Price Currency,Spot Price"
            " at Transaction,Subtotal,Total (inclusive of fees and/or spread),Fees and/or"
            " Spread,Notes\n2025-01-01T00:00:00Z,Convert,BTC,0.1,GBP,1,1,1,0,x\n",
            "line 2: Transaction Type 'Convert' is not a buy or a sell; its tax treatment needs"
            " your decision: remove it and write what it was as plain CSV lines"
            " (time,side,size,value,fee)",
        ),
        (
            "Timestamp,Transaction Type,Asset,Quantity Transacted,Spot Price Currency,Spot Price"
            " at Transaction,Subtotal,Total (inclusive of fees and/or spread),Fees and/or"
            " Spread,Notes\n2025-01-01T00:00:00Z,Buy,BTC,0.1,USD,1,1,1,0,x\n",
            "line 2: its price currency is USD: the report is in pounds, so export the history"
            " with GBP prices",
        ),
    ],
)
def test_a_bad_row_names_its_file_line_and_rule(tmp_path: Path, text: str, message: str) -> None:
    from kripto.tax.files import read_trade_file

    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InvalidInput) as raised:
        read_trade_file(path)
    assert str(raised.value) == f"--trades {path}: {message}; nothing was computed"


def test_the_csv_export_reads_back_to_the_same_report(tmp_path: Path) -> None:
    from kripto.tax.files import read_trade_file
    from kripto.tax.report import report_json

    trades = bot_year(count=300)
    path = tmp_path / "year.csv"
    write_plain(trades, path)
    again = read_trade_file(path).trades
    year = parse_tax_year("2025-26")
    first = report_json(year_report(compute(trades), year))
    second = report_json(year_report(compute(again), year))
    assert first == second
