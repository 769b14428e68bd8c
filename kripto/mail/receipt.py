"""The trade receipt, "Kripto Trade Receipt", as the original emailer showed it, with the sign of
the GBP change right for sells too (the original added a sell's fee to its proceeds)."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kripto.fills import btc_change, gbp_change
from kripto.mail.base import RenderedEmail
from kripto.models import Order
from kripto.money import fmt_btc, fmt_gbp, fmt_time_long

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
    gbp_change: str
    btc_change: str
    trade_id: str
    order_id: str
    product_id: str
    time: str


def receipt_lines(trade_id: str, order: Order) -> ReceiptLines:
    """GBP to the penny with £ (half-even), BTC to the satoshi; a change
    carries its sign: a buy spends value plus fee, a sell receives value less fee."""
    # The rate actually paid, GBP per BTC; an order that filled nothing has none.
    filled = order.filled_size
    rate = f"{fmt_gbp(order.executed_value / filled)} per BTC" if filled else "n/a (nothing filled)"
    return ReceiptLines(
        side=order.side.value.upper(),
        rate=rate,
        fees=fmt_gbp(order.fill_fees),
        price=fmt_gbp(order.executed_value),
        gbp_change=fmt_gbp(
            gbp_change(order.side, order.executed_value, order.fill_fees), signed=True
        ),
        btc_change=fmt_btc(btc_change(order.side, order.filled_size), signed=True),
        trade_id=trade_id,
        order_id=order.id,
        product_id=order.product_id,
        time=fmt_time_long(order.created_at),
    )


def render_receipt(trade_id: str, order: Order, stop_url: str | None = None) -> RenderedEmail:
    """`stop_url`: the signed "Stop trading" link (kripto.stoplinks), when one can be made."""
    lines = receipt_lines(trade_id, order)
    context = {"r": lines, "subject": SUBJECT, "stop_url": stop_url}
    return RenderedEmail(
        subject=SUBJECT,
        text=_templates.get_template("receipt.txt.j2").render(**context),
        html=_templates.get_template("receipt.html.j2").render(**context),
    )
