"""The CLI's real tables (kripto trades, decisions, rates, wallet) rendered at 80 columns: no
figure cut short with "…", a trade, rate or balance on one line, a decision on at most two."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from kripto.cli.tables import decisions_table, orders_table, rates_table, wallet_table
from kripto.models import Balance, Decision, Order, Rate, Side, Wallet

WHEN = datetime(2026, 11, 25, 14, 7, 31, tzinfo=UTC)
SEED = Order(
    id="5ecf261e05a7428989286075",
    side=Side.BUY,
    product_id="BTC-GBP",
    funds=Decimal("9.95024875"),
    settled=True,
    created_at=WHEN,
    fill_fees=Decimal("0.049751102976"),
    filled_size=Decimal("0.00125952"),
    executed_value=Decimal("9.9502205952"),
    client_order_id="aa368788-bb4f-40c0-b80f-afcfdaf18574",
)
# The widest trade the limits allow: £1,000.00 (KRIPTO_MAX_TRADE_GBP) and whole BTC.
BIG_SELL = SEED.model_copy(
    update={
        "side": Side.SELL,
        "funds": Decimal("1000.00"),
        "executed_value": Decimal("999.99999999"),
        "fill_fees": Decimal("4.99999999995"),
        "filled_size": Decimal("12.34567891"),
        "settled": False,
        "client_order_id": "0b7e2c1a-0000-4000-8000-000000000001",
    }
)


def render(table: Table) -> list[str]:
    console = Console(width=80, record=True, color_system=None)
    console.print(table)
    return [line.rstrip() for line in console.export_text().splitlines()]


def rows(lines: list[str]) -> list[str]:
    """The body lines: after the header rule, before the caption."""
    start = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"}) + 1
    return lines[start:-1]


def test_trades_fit_80_columns_one_line_each_pence_and_satoshis() -> None:
    lines = render(
        orders_table([BIG_SELL, SEED], "Trades, newest first", [Decimal("1000.00"), Decimal(10)])
    )
    text = "\n".join(lines)
    assert "…" not in text and max(map(len, lines)) <= 80
    header = "created side asked £ paid/got £ fee £ size BTC settled key"
    assert lines[1].split() == header.split()
    body = rows(lines)
    # One amount story: asked £10.00, paid £10.00 (£9.95 and the £0.05 fee), as kripto trade,
    # the dashboard and the receipt say it.
    assert body == [
        "11-25 14:07  sell  1,000.00      995.00   5.00  12.34567891  no       0b7e2c1a",
        "11-25 14:07  buy      10.00       10.00   0.05   0.00125952  yes      aa368788",
    ]
    assert lines[-1] == "2 trades; times UTC"
    assert render(orders_table([SEED], "t"))[-1] == "1 trade; times UTC"


def test_wallet_fits_with_gbp_in_pence_and_btc_in_satoshis() -> None:
    wallet = Wallet(
        gbp=Balance(
            id="g", balance=Decimal("1234567.125"), hold=Decimal(0), available=Decimal("1234567")
        ),
        btc=Balance(
            id="b", balance=Decimal("21.123456789"), hold=Decimal("0.1"), available=Decimal("21")
        ),
    )
    lines = render(wallet_table(wallet))
    assert "…" not in "\n".join(lines)
    assert rows(lines) == [
        "GBP       1,234,567.12        0.00  1,234,567.00",
        "BTC        21.12345679  0.10000000   21.00000000",
    ]


def test_rates_one_line_each() -> None:
    minute = WHEN.replace(second=0)
    rates = [
        Rate(date_time=minute, rate=Decimal("79123.456"), source="coinbase", fetched_at=WHEN),
        Rate(date_time=minute, rate=Decimal("7900.01"), source="coinbase-candles"),
    ]
    lines = render(rates_table(rates, "BTC-GBP, last 7 days"))
    assert "…" not in "\n".join(lines)
    # The minute a rate stands for, and when the live feed read it (31 s into it).
    assert rows(lines) == [
        "11-25 14:07  79,123.46  coinbase          14:07:31",
        "11-25 14:07   7,900.01  coinbase-candles",
    ]


def test_decisions_keep_their_figures_on_the_first_line_and_wrap_the_reason_once() -> None:
    hold = Decision(
        decision_id="d1",
        product_id="BTC-GBP",
        tick_time=WHEN,
        action="hold",
        amount=Decimal(0),
        strategy="ema_cross",
        params={},
        indicators={},
        # The longest reason kripto.decisions writes, with realistic figures.
        reason="hold: gap in the rates: 1,234 minutes in a row without a rate within the last"
        " 1,440 that the rolling window uses (limit 30)",
    )
    buy = hold.model_copy(
        update={
            "decision_id": "d2",
            "action": "buy",
            "amount": Decimal("150.255"),
            "reason": "buy: ema_cross signal at 2026-11-25 14:07:00+00:00; buy £150.26",
        }
    )
    lines = render(decisions_table([hold, buy]))
    assert "…" not in "\n".join(lines) and max(map(len, lines)) <= 80
    assert lines[0] == "Decisions, newest first (BTC-GBP, ema_cross, 2026-11-25)"
    body = rows(lines)
    starts = [i for i, line in enumerate(body) if line.startswith("14:07")]
    assert len(starts) == 2
    # Each decision takes at most two lines, and its figures are on the first.
    assert [b - a for a, b in zip(starts, [*starts[1:], len(body)], strict=True)] == [2, 1]
    assert body[starts[0]].startswith("14:07  hold        gap in the rates: 1,234")
    assert body[starts[1]].startswith("14:07  buy 150.26  ema_cross signal at")
    # Over several days each row carries its date.
    other_day = hold.model_copy(update={"tick_time": datetime(2026, 11, 24, 23, 59, tzinfo=UTC)})
    lines = render(decisions_table([hold, other_day]))
    assert lines[0] == "Decisions, newest first (BTC-GBP, ema_cross)"
    assert [line[:12] for line in rows(lines) if line[:1] != " "] == [
        "11-25 14:07 ",
        "11-24 23:59 ",
    ]
    assert lines[-1] == "2 decisions; times UTC, £"


def test_a_week_of_rates_is_summarised_not_printed_whole() -> None:
    """`kripto rates` shows the newest 20 of a week's 10,080 minutes and one summary line."""
    from datetime import timedelta

    from kripto.cli.tables import rates_summary

    week = [
        Rate(
            date_time=WHEN - timedelta(minutes=10_079 - i),
            rate=Decimal(70_000 + (i % 500)),
            source="coinbase",
        )
        for i in range(10_080)
    ]
    assert rates_summary(week, 20) == (
        "10,080 rates from 11-18 14:08 to 11-25 14:07 UTC; low 70,000.00 at 11-18 14:08,"
        " high 70,499.00 at 11-18 22:27; sources: coinbase. Shown: the newest 20 (--all for"
        " every one)"
    )
