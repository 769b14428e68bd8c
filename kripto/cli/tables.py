"""The CLI's tables, built to fit an 80-column terminal without cutting a figure short.

Every figure goes through kripto.money (GBP to the penny, BTC to the satoshi, short UTC times),
so no column needs more room than its widest honest value, and rich never has to end a cell
with "…". `--json` on each command keeps every digit and the full times."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from rich import box
from rich.table import Table

from kripto.fills import gbp_change
from kripto.flows.reconcile import ReconcileBalance, ReconcileDifference
from kripto.mail.receipt import receipt_lines
from kripto.models import (
    Decision,
    Order,
    Rate,
    Wallet,
    currencies,
)
from kripto.money import (
    CURRENCY_SYMBOLS,
    fmt_amount,
    fmt_money,
    fmt_rate,
    fmt_size,
    fmt_time,
    plural,
)
from kripto.trade_orders import (
    TradeFill,
    TradeOrder,
    blended_fee_rate,
    fmt_rate_pct,
    liquidity_label,
    maker_share,
)


def _table(title: str | None, caption: str | None = None) -> Table:
    """No outer border and one space between columns: the width goes to the figures. Cells
    never truncate (`overflow="fold"` at worst), so a figure is never shown cut short."""
    return Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
        title_justify="left",
        caption_justify="left",
    )


def _number(table: Table, header: str) -> None:
    table.add_column(header, justify="right", no_wrap=True, overflow="fold")


def _text(table: Table, header: str, *, wrap: bool = False) -> None:
    table.add_column(header, no_wrap=not wrap, overflow="fold")


def short_key(key: str) -> str:
    """A key's first 8 characters: enough to tell trades apart in a table (a UUID's first
    group); `kripto trades --json` has every key in full."""
    return key[:8]


def orders_table(
    orders: Sequence[Order],
    title: str,
    asked: Sequence[Decimal | None] | None = None,
    liquidity: Mapping[str, str] | None = None,
) -> Table:
    """One trade a line, telling the one amount story `kripto trade`, the dashboard and the
    receipt tell: what was asked for, what was paid (a buy: value and fee) or got (a sell: value
    less fee), the fee, and the size; GBP to the penny, BTC to the satoshi. `asked`: each
    order's asked amount, in order (None: not known, an order found by the reconciler).
    `liquidity`: each trade's fills as maker, taker or mixed (by key), shown when given."""
    products = {o.product_id for o in orders}
    several = len(products) > 1
    unit = "" if several else f" ({next(iter(products))})" if products else ""
    table = _table(f"{title}{unit}", caption=f"{plural(len(orders), 'trade')}; times UTC")
    _text(table, "created")
    _text(table, "side")
    if several:
        _text(table, "product")
    # The headers name the currencies the rows share: `asked £`, `size BTC` for BTC-GBP
    # alone; `size` with BTC-GBP and ETH-GBP (each row's product says which coin).
    quotes = {o.product_id.partition("-")[2] or "GBP" for o in orders} or {"GBP"}
    bases = {o.product_id.partition("-")[0] for o in orders} or {"BTC"}
    quote = CURRENCY_SYMBOLS.get(q := next(iter(quotes)), q) if len(quotes) == 1 else ""
    base = next(iter(bases)) if len(bases) == 1 else ""
    for header in ("asked", "paid/got", "fee", "size"):
        _number(table, f"{header} {base if header == 'size' else quote}".strip())
    _text(table, "settled")
    if liquidity is not None:
        _text(table, "liquidity")
    _text(table, "key")
    wanted = list(asked) if asked is not None else [None] * len(orders)
    for o, amount in zip(orders, wanted, strict=True):
        quote = o.product_id.partition("-")[2] or "GBP"
        base = o.product_id.partition("-")[0]
        row = [fmt_time(o.created_at), o.side.value]
        if several:
            row.append(o.product_id)
        row += [
            "" if amount is None else fmt_amount(amount, quote),
            fmt_amount(abs(gbp_change(o.side, o.executed_value, o.fill_fees)), quote),
            fmt_amount(o.fill_fees, quote),
            fmt_amount(o.filled_size, base),
            "yes" if o.settled else "[yellow]no[/yellow]",
        ]
        if liquidity is not None:
            row.append(liquidity.get(o.client_order_id, ""))
        row.append(short_key(o.client_order_id))
        table.add_row(*row)
    return table


def wallet_table(wallet: Wallet) -> Table:
    table = _table("Wallet", caption="account IDs: kripto wallet --json")
    _text(table, "currency")
    for header in ("balance", "hold", "available"):
        _number(table, header)
    for name, balance in wallet.balances().items():
        table.add_row(
            name,
            fmt_amount(balance.balance, name),
            fmt_amount(balance.hold, name),
            fmt_amount(balance.available, name),
        )
    return table


def rates_table(rates: Sequence[Rate], title: str) -> Table:
    """`time` is the minute a rate stands for; `read at` is when the live feed read it
    (seconds into that minute; blank for candles and CSV rows)."""
    table = _table(title, caption=f"{plural(len(rates), 'rate')}; times UTC")
    _text(table, "time")
    quote = rates[0].product_id.partition("-")[2] if rates else "GBP"
    _number(table, f"rate {CURRENCY_SYMBOLS.get(quote, quote)}")  # `rate £`, `rate €`
    _text(table, "source")
    _text(table, "read at")
    for r in rates:
        source = r.source if r.source == "coinbase" else f"[yellow]{r.source}[/yellow]"
        read = f"{r.fetched_at:%H:%M:%S}" if r.fetched_at is not None else ""
        table.add_row(fmt_time(r.date_time), fmt_rate(r.rate), source, read)
    return table


def rates_summary(rates: Sequence[Rate], shown: int) -> str:
    """All of the period in a line (its span, low, high and sources) under a table that
    shows only the newest `shown` of them."""
    low = min(rates, key=lambda r: r.rate)
    high = max(rates, key=lambda r: r.rate)
    sources = ", ".join(sorted({r.source for r in rates}))
    return (
        f"{len(rates):,} rates from {fmt_time(rates[0].date_time)} to"
        f" {fmt_time(rates[-1].date_time)} UTC; low {fmt_rate(low.rate)} at"
        f" {fmt_time(low.date_time)}, high {fmt_rate(high.rate)} at {fmt_time(high.date_time)};"
        f" sources: {sources}. Shown: the newest {shown:,} (--all for every one)"
    )


def decisions_table(decisions: Sequence[Decision]) -> Table:
    """The time and what was done (with its GBP) stay on one line; only the reason wraps, to
    two lines at 80 columns even for the longest (a gap in the rates). The product and strategy
    get a column only when they differ between rows; otherwise the title names them."""
    products = {d.product_id for d in decisions}
    strategies = {d.strategy for d in decisions}
    named = [
        *(products if len(products) == 1 else ()),
        *(strategies if len(strategies) == 1 else ()),
    ]
    # Decisions come a minute apart, so a page of them is mostly one day: then the day is said
    # once, in the title, and the reason gets its width.
    days = {d.tick_time.date() for d in decisions}
    one_day = len(days) == 1
    if one_day:
        named.append(f"{next(iter(days)):%Y-%m-%d}")
    title = "Decisions, newest first" + (f" ({', '.join(named)})" if named else "")
    table = _table(title, caption=f"{plural(len(decisions), 'decision')}; times UTC, £")
    _text(table, "tick")
    if len(products) > 1:
        _text(table, "product")
    _text(table, "action")
    if len(strategies) > 1:
        _text(table, "strategy")
    _text(table, "reason", wrap=True)
    for d in decisions:
        row = [f"{d.tick_time:%H:%M}" if one_day else fmt_time(d.tick_time)]
        if len(products) > 1:
            row.append(d.product_id)
        # GBP as the caption says (£); another quote currency with its own symbol or code.
        quote = d.product_id.partition("-")[2] or "GBP"
        shown = fmt_amount(d.amount, quote) if quote == "GBP" else fmt_money(d.amount, quote)
        amount = f" {shown}" if d.action != "hold" else ""
        row.append(f"{d.action}{amount}")
        if len(strategies) > 1:
            row.append(d.strategy)
        # The stored reason starts with the action ("hold: …"), which has its own column.
        row.append(d.reason.removeprefix(f"{d.action}: "))
        table.add_row(*row)
    return table


def trade_summary_lines(
    key: str, order: Order, label: str | None = None, asked: Decimal | None = None
) -> list[str]:
    """A trade as a person reads it: what it paid or received to the penny (the fee included),
    the size to the satoshi, the fill price, the fee, the key and the exchange's order ID;
    `label` (PAPER, SIMULATED prices) after its state. `--json` keeps every digit."""
    lines = receipt_lines(key, order)
    state = "settled" if order.settled else "not settled yet"
    state += f" ({label})" if label else ""
    moved = "paid" if order.side.value == "buy" else "received"
    rows = [(moved, lines.gbp_change.lstrip("+-"))]
    if asked is not None:
        rows.insert(0, ("asked", fmt_money(asked, lines.quote)))
    rows += [
        ("size", lines.btc_change.lstrip("+-")),
        ("fill price", lines.rate),
        ("fee", lines.fees),
        ("key", key),
        ("order", order.id),
    ]
    if order.note:  # the exchange sold what was held, not what was asked
        rows.append(("note", order.note))
    return [f"{lines.side} {lines.product_id}: {state}"] + [
        f"  {name:<10}  {value}" for name, value in rows
    ]


def differences_table(differences: Sequence[ReconcileDifference]) -> Table:
    """`kripto reconcile`'s differences: a trade's figures in its quote currency (GBP to the
    penny), a balance's in its own currency (coins to their 8 places)."""
    table = _table(plural(len(differences), "difference"))
    _text(table, "kind")
    _text(table, "key or currency", wrap=True)
    _number(table, "books")
    _number(table, "exchange")
    _text(table, "what", wrap=True)
    for d in differences:
        currency = d.subject if d.kind == "balance" else "GBP"
        table.add_row(
            d.kind.replace("_", " "),
            d.subject,
            "" if d.books is None else _money(d.books, currency),
            "" if d.exchange is None else _money(d.exchange, currency),
            d.detail,
        )
    return table


def reconcile_balances_table(balances: Sequence[ReconcileBalance]) -> Table:
    table = _table("Balances")
    _text(table, "currency")
    _number(table, "books expect")
    _number(table, "exchange has")
    _text(table, "note", wrap=True)
    for b in balances:
        expected = "" if b.books is None else _money(b.books, b.currency)
        table.add_row(b.currency, expected, _money(b.exchange, b.currency), b.note)
    return table


def _money(value: Decimal, currency: str) -> str:
    """GBP as `£1,234.56`, a coin to its 8 places with its code: as every other command."""
    if currency in CURRENCY_SYMBOLS:
        return fmt_money(value, currency)
    return f"{fmt_amount(value, currency)} {currency}"


def order_lines(
    orders: Sequence[TradeOrder],
    fills: Sequence[TradeFill],
    trade: Order,
    outcome: str | None = None,
) -> list[str]:
    """Each order a trade placed (maker, re-quoted, taker remainder), what it filled and at
    what liquidity, then the blended fee rate: what `kripto trade` prints under the trade."""
    base, quote = currencies(trade.product_id)
    lines = []
    makers = 0
    for o in orders:
        if o.kind == "maker":
            makers += 1
            kind = "maker" if makers == 1 else "maker, re-quoted"
        elif o.kind == "taker":
            kind = "taker remainder"
        else:
            kind = "market"
        price = f" at {fmt_money(o.limit_price, quote)}" if o.limit_price is not None else ""
        filled = (
            f"filled {fmt_size(o.filled_size, base)} for {fmt_money(o.executed_value, quote)}"
            if o.filled_size
            else "filled nothing"
        )
        liquidity = liquidity_label([f for f in fills if f.client_order_id == o.client_order_id])
        liquidity = f" ({liquidity})" if liquidity else ""
        lines.append(f"  order {o.seq:<4}  {kind}{price}: {o.status}, {filled}{liquidity}")
    rate = blended_fee_rate(trade.executed_value, trade.fill_fees)
    share = maker_share(fills)
    shown = f"{fmt_rate_pct(rate)}" + (f" ({share * 100:.0f}% maker)" if share is not None else "")
    lines.append(f"  {'fee rate':<10}  {shown}")
    if outcome:
        lines.append(f"  {'note':<10}  {outcome}")
    return lines
