"""What each notification says. Pure functions of the event's facts (no I/O, no clock), so a
workflow may build them deterministically and the tests can read them exactly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from kripto.models import Order, TradeRequest, currencies
from kripto.money import fmt_money, fmt_size, plural
from kripto.notify.events import Notify
from kripto.portfolio import Position


def trade_done(trade_id: str, order: Order) -> Notify:
    base, quote = currencies(order.product_id)
    verb = "Bought" if order.side.value == "buy" else "Sold"
    return Notify(
        key=f"trade-{trade_id}",
        kind="trade",
        title=(
            f"{verb} {fmt_size(order.filled_size, base)} for"
            f" {fmt_money(order.executed_value, quote)} ({order.product_id})"
        ),
        text=f"fee {fmt_money(order.fill_fees, quote)}; trade {trade_id}, order {order.id}",
    )


def trade_refused(trade_id: str, request: TradeRequest | None, reason: str) -> Notify:
    what = request.summary if request is not None else "a trade"
    return Notify(
        key=f"refused-{trade_id}",
        kind="refused",
        title=f"Trade refused: {what}",
        text=f"{reason}\ntrade {trade_id}",
    )


def protection_fired(decision_id: str, product_id: str, protection: str, reason: str) -> Notify:
    """For the decider: a stop-loss, trailing stop or drawdown guard that fired."""
    return Notify(
        key=f"protection-{decision_id}",
        kind="protection",
        title=f"{protection} fired on {product_id}",
        text=reason,
    )


def alert(key: str, title: str, text: str = "") -> Notify:
    """Any alert-worthy event: a trade waiting on errors (key `waiting-<trade ID>-<since>`),
    a reconciler difference (key `reconcile-<difference ID>`)."""
    return Notify(key=f"alert-{key}", kind="alert", title=title, text=text)


def kill_switch(paused: bool, note: str, schedules: Sequence[str], key: str) -> Notify:
    state = "paused" if paused else "resumed"
    return Notify(
        key=f"kill-switch-{key}",
        kind="kill_switch",
        title=f"Kill switch: trading {state}",
        text=f"{note}\n{plural(len(schedules), 'schedule')}: {', '.join(schedules) or 'none'}",
    )


def daily_summary(
    day: date,
    product_id: str,
    trades: Sequence[Order],
    held: Position,
    rate: Decimal | None,
    paused: bool | None,
) -> Notify:
    base, quote = currencies(product_id)
    bought = sum((o.executed_value for o in trades if o.side.value == "buy"), Decimal(0))
    sold = sum((o.executed_value for o in trades if o.side.value == "sell"), Decimal(0))
    fees = sum((o.fill_fees for o in trades), Decimal(0))
    lines = [
        f"{plural(len(trades), 'trade')}: bought {fmt_money(bought, quote)},"
        f" sold {fmt_money(sold, quote)}, fees {fmt_money(fees, quote)}",
        f"held {fmt_size(held.btc, base)}; realised {fmt_money(held.realised, quote, signed=True)}"
        + (
            f", unrealised {fmt_money(held.unrealised(rate), quote, signed=True)} at"
            f" {fmt_money(rate, quote)}"
            if rate is not None
            else ""
        ),
        {True: "trading is paused", False: "trading is on", None: "no schedule"}[paused],
    ]
    return Notify(
        key=f"summary-{product_id}-{day.isoformat()}",
        kind="summary",
        title=f"Kripto daily summary {day.isoformat()} ({product_id})",
        text="\n".join(lines),
    )
