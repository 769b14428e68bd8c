"""The receipt's figures and text: the seed's buy exactly, a sell with the fee subtracted (the
original added it), and HTML escaping."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kripto.fills import market_fill
from kripto.mail.receipt import SUBJECT, receipt_lines, render_receipt
from kripto.models import Order, Side

SEED = Order(
    id="5ecf261e05a7428989286075",
    side=Side.BUY,
    product_id="BTC-GBP",
    funds=Decimal("9.95024875"),
    settled=True,
    created_at=datetime(2020, 5, 19, 19, 39, tzinfo=UTC),
    fill_fees=Decimal("0.049751102976"),
    filled_size=Decimal("0.00125952"),
    executed_value=Decimal("9.9502205952"),
    client_order_id="aa368788-bb4f-40c0-b80f-afcfdaf18574",
)
TRADE_ID = SEED.client_order_id

SEED_TEXT = """\
Kripto Trade Receipt

Side:             BUY BTC-GBP
Paid:             £10.00
Fill price:       £7,900.01 per BTC
BTC bought for:   £9.95
Fee:              £0.05
GBP change:       -£10.00
BTC change:       +0.00125952 BTC
Time:             2020-05-19 19:39:00 UTC
Trade key:        aa368788-bb4f-40c0-b80f-afcfdaf18574
Exchange order:   5ecf261e05a7428989286075
"""


def test_the_seed_buy_renders_exactly() -> None:
    # The GBP change is -(9.9502205952 + 0.049751102976), shown to the penny.
    assert -(SEED.executed_value + SEED.fill_fees) == Decimal("-9.999971698176")
    email = render_receipt(TRADE_ID, SEED)
    assert email.subject == SUBJECT == "Kripto Trade Receipt"
    assert email.text == SEED_TEXT
    for cell in (
        "<td>BUY BTC-GBP</td>",
        "<td>£7,900.01 per BTC</td>",
        "<td>£9.95</td>",
        "<td>£0.05</td>",
        "<td>-£10.00</td>",
        "<td>+0.00125952 BTC</td>",
        "<td>2020-05-19 19:39:00 UTC</td>",
        f"<td>{TRADE_ID}</td>",
        f"<td>{SEED.id}</td>",
    ):
        assert cell in email.html
    assert "stop" not in (email.text + email.html).lower()


def test_a_sell_receives_the_value_less_the_fee() -> None:
    fill = market_fill(Side.SELL, Decimal("100.00"), Decimal("7900.01"))
    sell = SEED.model_copy(
        update={
            "side": Side.SELL,
            "funds": fill.funds,
            "filled_size": fill.filled_size,
            "executed_value": fill.executed_value,
            "fill_fees": fill.fill_fees,
        }
    )
    # 0.01265821 BTC at 7900.01 is 99.9999855821 GBP; the fee is 0.5% of it.
    assert sell.executed_value == Decimal("99.9999855821")
    assert sell.fill_fees == Decimal("0.4999999279105")
    proceeds = sell.executed_value - sell.fill_fees
    assert proceeds == Decimal("99.4999856541895")
    lines = receipt_lines("sell-1", sell)
    assert lines.side == "SELL"
    assert lines.gbp_change == "+£99.50"  # the original showed +£100.50 (value plus fee)
    assert lines.btc_change == "-0.01265821 BTC"
    assert lines.fees == "£0.50"
    assert lines.price == "£100.00"
    assert lines.rate == "£7,900.01 per BTC"
    text = render_receipt("sell-1", sell).text
    assert "GBP change:       +£99.50\n" in text
    assert "Received:         £99.50\n" in text  # as kripto trade says it
    assert "BTC sold for:     £100.00\n" in text
    assert "BTC change:       -0.01265821 BTC\n" in text


def test_signs_follow_the_side_for_round_figures() -> None:
    sell = SEED.model_copy(
        update={"side": Side.SELL, "executed_value": Decimal("100"), "fill_fees": Decimal("0.5")}
    )
    buy = sell.model_copy(update={"side": Side.BUY})
    assert receipt_lines("s", sell).gbp_change == "+£99.50"
    assert receipt_lines("b", buy).gbp_change == "-£100.50"


def test_large_figures_keep_every_digit() -> None:
    big = SEED.model_copy(
        update={
            "filled_size": Decimal("12.34567891"),
            "executed_value": Decimal("123456.78"),
            "fill_fees": Decimal("617.2839"),
        }
    )
    lines = receipt_lines("big", big)
    assert lines.price == "£123,456.78"
    assert lines.gbp_change == "-£124,074.06"
    assert lines.btc_change == "+12.34567891 BTC"
    assert lines.rate == "£10,000.00 per BTC"  # 9999.99926...


def test_html_is_escaped_and_text_is_not() -> None:
    hostile = "<script>alert(1)</script>&"
    order = SEED.model_copy(update={"id": '"><img src=x>'})
    email = render_receipt(hostile, order)
    assert "<script>" not in email.html
    assert "<img" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in email.html
    assert "&#34;&gt;&lt;img src=x&gt;" in email.html
    assert f"Trade key:        {hostile}\n" in email.text
    assert 'Exchange order:   "><img src=x>\n' in email.text


def test_an_order_that_filled_nothing_has_no_rate() -> None:
    empty = SEED.model_copy(
        update={"filled_size": Decimal(0), "executed_value": Decimal(0), "fill_fees": Decimal(0)}
    )
    lines = receipt_lines("empty", empty)
    assert lines.rate == "n/a (nothing filled)"
    assert (lines.gbp_change, lines.btc_change) == ("£0.00", "0.00000000 BTC")


def test_the_smallest_amount_of_btc_is_not_in_exponent_form() -> None:
    one_satoshi = SEED.model_copy(update={"filled_size": Decimal("0.00000001")})
    assert receipt_lines("tiny", one_satoshi).btc_change == "+0.00000001 BTC"


def test_json_money_is_never_in_exponent_form() -> None:
    """Decimal's own str() gives `1E-8`; the wire shape must read `0.00000001`."""
    tiny = SEED.model_copy(
        update={
            "filled_size": Decimal("1E-8"),
            "fill_fees": Decimal("3.950005E-7"),
            "funds": Decimal("1E+3"),
        }
    )
    shown = tiny.to_json_dict()
    assert (shown["filledSize"], shown["fillFees"], shown["funds"]) == (
        "0.00000001",
        "0.0000003950005",
        "1000",
    )
    assert Order.model_validate_json(tiny.model_dump_json()) == tiny


def test_the_cli_summary_says_what_each_figure_is() -> None:
    from kripto.cli.tables import trade_summary_lines

    assert trade_summary_lines(TRADE_ID, SEED) == [
        "BUY BTC-GBP: settled",
        "  paid        £10.00",
        "  size        0.00125952 BTC",
        "  fill price  £7,900.01 per BTC",
        "  fee         £0.05",
        f"  key         {TRADE_ID}",
        f"  order       {SEED.id}",
    ]
    sell = SEED.model_copy(update={"side": Side.SELL, "settled": False})
    lines = trade_summary_lines("k", sell)
    assert lines[0] == "SELL BTC-GBP: not settled yet"
    assert lines[1] == "  received    £9.90"  # the value less the fee


def test_a_paper_or_simulated_trade_says_so_on_its_receipt() -> None:
    from kripto.cli.tables import trade_summary_lines
    from kripto.mail.receipt import mode_label

    assert mode_label("coinbase", "coinbase") is None
    assert mode_label("paper", "coinbase") == "PAPER"
    assert mode_label("paper", "simulated") == "PAPER, SIMULATED prices"
    email = render_receipt(TRADE_ID, SEED, label="PAPER, SIMULATED prices")
    assert email.subject == "Kripto Trade Receipt (PAPER, SIMULATED prices)"
    assert email.text.splitlines()[:3] == [
        "Kripto Trade Receipt (PAPER, SIMULATED prices)",
        "",
        "PAPER, SIMULATED prices: no real money moved and the prices were simulated.",
    ]
    assert "<strong>PAPER, SIMULATED prices</strong>: no real money moved" in email.html
    live = render_receipt(TRADE_ID, SEED)
    assert live.subject == "Kripto Trade Receipt" and "PAPER" not in live.text
    assert trade_summary_lines(TRADE_ID, SEED, "PAPER")[0] == "BUY BTC-GBP: settled (PAPER)"
