"""kripto.money is the one place money, times and counts are written for people: the CLI, the
receipts and the dashboard all call it, so these are the figures everyone sees."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kripto.fills import btc_change, gbp_change, market_fill
from kripto.models import Side
from kripto.money import fmt_amount, fmt_btc, fmt_gbp, fmt_rate, fmt_time, fmt_time_long, plural


def test_gbp_is_to_the_penny_half_even_with_its_sign_in_front() -> None:
    assert fmt_gbp(Decimal("9.9502205952")) == "£9.95"
    assert fmt_gbp(Decimal("1234567.125")) == "£1,234,567.12"  # half-even: ...12.5 -> ...12
    assert fmt_gbp(Decimal("0.135")) == "£0.14"
    assert fmt_gbp(Decimal("-9.999971698176"), signed=True) == "-£10.00"
    assert fmt_gbp(Decimal("99.5"), signed=True) == "+£99.50"
    assert fmt_gbp(Decimal("-5")) == "-£5.00"
    assert fmt_gbp(Decimal("0.001"), signed=True) == "£0.00"
    assert fmt_gbp(Decimal("1000"), symbol=False) == "1,000.00"


def test_btc_is_to_the_satoshi_never_in_exponent_form() -> None:
    assert fmt_btc(Decimal("1E-8")) == "0.00000001 BTC"
    assert fmt_btc(Decimal("0.00125952"), signed=True) == "+0.00125952 BTC"
    assert fmt_btc(Decimal("-0.00126582"), signed=True, unit=False) == "-0.00126582"
    assert fmt_btc(Decimal("0")) == "0.00000000 BTC"


def test_amounts_rates_times_and_counts() -> None:
    assert fmt_amount(Decimal("9.95024875"), "GBP") == "9.95"
    assert fmt_amount(Decimal("0.001259521"), "BTC") == "0.00125952"
    assert fmt_amount(Decimal("1.123456789"), "USDC") == "1.123456789"  # unknown: every digit
    assert fmt_amount(Decimal("1.125"), "EUR") == "1.12"  # a currency with a symbol: pennies
    assert fmt_amount(Decimal("0.004000001"), "ETH") == "0.00400000"
    assert fmt_rate(Decimal("79000.005")) == "79,000.00"
    when = datetime(2026, 11, 25, 14, 7, 59, tzinfo=UTC)
    assert fmt_time(when) == "11-25 14:07"
    assert fmt_time_long(when) == "2026-11-25 14:07:59 UTC"
    assert [plural(n, "trade") for n in (0, 1, 2, 1000)] == [
        "0 trades",
        "1 trade",
        "2 trades",
        "1,000 trades",
    ]


def test_fill_signs_have_one_source() -> None:
    """The paper wallet (Fill) and the receipt (an Order's fields) take signs from one place."""
    buy = market_fill(Side.BUY, Decimal("10.00"), Decimal("7900.01"))
    assert buy.gbp_change == gbp_change(Side.BUY, buy.executed_value, buy.fill_fees)
    assert buy.gbp_change == Decimal("-9.999971698176")
    assert buy.btc_change == btc_change(Side.BUY, buy.filled_size) == Decimal("0.00125952")
    sell = market_fill(Side.SELL, Decimal("100"), Decimal("100"))
    assert sell.gbp_change == Decimal("99.500") and sell.btc_change == Decimal("-1.00000000")
