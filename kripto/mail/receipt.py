"""The trade receipt, "Kripto Trade Receipt", as the original emailer showed it, with the sign of
the quote currency's change right for sells too (the original added a sell's fee to its
proceeds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kripto.fills import btc_change, gbp_change
from kripto.mail.base import RenderedEmail
from kripto.models import Order, currencies
from kripto.money import fmt_money, fmt_size, fmt_time_long
from kripto.trade_orders import TradeFill, blended_fee_rate, fmt_rate_pct

SUBJECT = "Kripto Trade Receipt"

#: Templates ship inside the package; HTML is autoescaped, the text part is not.
_templates = Environment(
    loader=PackageLoader("kripto.mail", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class ReceiptLines:
    """Every figure the receipt shows, already formatted."""

    side: str
    rate: str
    fees: str
    price: str
    gbp_change: str  # the quote currency's change (GBP for BTC-GBP)
    btc_change: str  # the base currency's change (BTC for BTC-GBP)
    trade_id: str
    order_id: str
    product_id: str
    time: str
    #: The product's quote and base currencies, which name the two change lines.
    quote: str = "GBP"
    base: str = "BTC"
    #: What `price` is: the base currency's value before the fee (`BTC bought for`).
    price_label: str = "BTC bought for"
    #: What was paid (a buy: value and fee) or received (a sell: value less fee), as
    #: `kripto trade`, `kripto trades` and the dashboard say it.
    paid: str = ""
    paid_label: str = "Paid"


def receipt_lines(trade_id: str, order: Order) -> ReceiptLines:
    """Money in the product's quote currency to the hundredth with its symbol (£, €, $;
    half-even), the base currency to 1e-8; a change carries its sign: a buy spends value plus
    fee, a sell receives value less fee."""
    base, quote = currencies(order.product_id)
    # The rate actually paid, quote per base; an order that filled nothing has none.
    filled = order.filled_size
    rate = (
        f"{fmt_money(order.executed_value / filled, quote)} per {base}"
        if filled
        else "n/a (nothing filled)"
    )
    return ReceiptLines(
        side=order.side.value.upper(),
        rate=rate,
        fees=fmt_money(order.fill_fees, quote),
        price=fmt_money(order.executed_value, quote),
        gbp_change=fmt_money(
            gbp_change(order.side, order.executed_value, order.fill_fees), quote, signed=True
        ),
        btc_change=fmt_size(btc_change(order.side, order.filled_size), base, signed=True),
        trade_id=trade_id,
        order_id=order.id,
        product_id=order.product_id,
        time=fmt_time_long(order.created_at),
        quote=quote,
        base=base,
        price_label=f"{base} {'bought' if order.side.value == 'buy' else 'sold'} for",
        paid=fmt_money(abs(gbp_change(order.side, order.executed_value, order.fill_fees)), quote),
        paid_label="Paid" if order.side.value == "buy" else "Received",
    )


def mode_label(exchange: str, feed: str) -> str | None:
    """What a trade was, when it was not real money at real prices: `PAPER` (the paper
    exchange), `PAPER, SIMULATED prices` (and the simulated feed); None for a live trade."""
    parts = []
    if exchange == "paper":
        parts.append("PAPER")
    if feed == "simulated":
        parts.append("SIMULATED prices")
    return ", ".join(parts) or None


@dataclass(frozen=True)
class FillLine:
    """One fill as the receipt shows it: `maker 0.00125952 BTC at £7,899.99, fee £0.06`."""

    liquidity: str
    size: str
    price: str
    fee: str
    time: str


def fill_lines(product_id: str, fills: Sequence[TradeFill]) -> list[FillLine]:
    base, quote = currencies(product_id)
    return [
        FillLine(
            liquidity=f.liquidity,
            size=fmt_size(f.size, base),
            price=fmt_money(f.price, quote),
            fee=fmt_money(f.fee, quote),
            time=fmt_time_long(f.filled_at),
        )
        for f in fills
    ]


def render_receipt(
    trade_id: str,
    order: Order,
    stop_url: str | None = None,
    fills: Sequence[TradeFill] = (),
    label: str | None = None,
) -> RenderedEmail:
    """`stop_url`: the signed "Stop trading" link (kripto.stoplinks), when one can be made.
    `fills`: the trade's fills (a maker-first trade's, each maker or taker), listed below.
    `label`: mode_label's, in the subject and atop the receipt (no real money moved)."""
    lines = receipt_lines(trade_id, order)
    subject = f"{SUBJECT} ({label})" if label else SUBJECT
    context = {
        "r": lines,
        "subject": subject,
        "label": label,
        "stop_url": stop_url,
        "fills": fill_lines(order.product_id, fills),
        "fee_rate": fmt_rate_pct(blended_fee_rate(order.executed_value, order.fill_fees)),
    }
    return RenderedEmail(
        subject=subject,
        text=_templates.get_template("receipt.txt.j2").render(**context),
        html=_templates.get_template("receipt.html.j2").render(**context),
    )
