"""Reconciliation: the exchange's orders and balances against the books, with no I/O.

Orders are matched by client order ID, which is the trade's key: the `trades` row's primary
key and the `trade_keys` row's. A book row may be unsettled and may not know its exchange
order ID yet (the key is claimed, and the row written, before the order is placed), so nothing
here matches on the exchange's own order ID.

- An exchange order with no trade row is **missing from the books**: it is recorded (and
  receipted) by the reconciler. One whose key Kripto claimed within the grace period is a trade
  still on its way, left to its own workflow. One still open (a resting order placed by hand in
  the Coinbase app) is recorded unsettled, its figures kept current, and counts as a hold on
  the balance: it moved only what it has filled.
- Any **unsettled row** past the grace period, whoever wrote it (its workflow abandoned, say),
  is finished from the exchange: its order settled → the row is **completed** with the filled
  figures (and receipted once); its order ended with nothing filled → the row is **closed** as
  unfilled (an outcome, never a failed run). One whose order is still open is itself a
  difference (**unsettled**); a young one is a trade still on its way.
- A trade row whose key the exchange does not know is **unknown to the exchange**: flagged,
  never deleted.
- Both sides know it but disagree (side, product, size, value, fees): a **mismatch**, flagged.
- **Balances**: the books' expected balance of a currency is its baseline (the wallet when the
  reconciler first looked, or when a person rebased it: `kripto reconcile --rebase`) plus what
  every trade that *filled* after it moved, compared within the currency's increment. A
  deposit, a withdrawal, or an order the books never heard of shows as a difference. Only
  trades younger than the grace period keep a balance from being checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from kripto.fills import btc_change, gbp_change
from kripto.models import Order, Side, currencies
from kripto.money import fmt_money, fmt_size

#: The smallest amount of a currency an account holds; balances closer than this match.
#: Fiat is held to the penny (or cent); anything else to 8 decimals (the satoshi).
CURRENCY_INCREMENTS = {"GBP": Decimal("0.01"), "EUR": Decimal("0.01"), "USD": Decimal("0.01")}
DEFAULT_INCREMENT = Decimal("0.00000001")


def increment(currency: str) -> Decimal:
    return CURRENCY_INCREMENTS.get(currency, DEFAULT_INCREMENT)


class DifferenceKind(StrEnum):
    MISSING_FROM_BOOKS = "missing_from_books"
    UNKNOWN_TO_EXCHANGE = "unknown_to_exchange"
    MISMATCH = "mismatch"
    BALANCE = "balance"
    UNSETTLED = "unsettled"


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    #: The trade key, or the currency of a balance.
    subject: str
    detail: str
    books: Decimal | None = None
    exchange: Decimal | None = None


@dataclass(frozen=True)
class BookEntry:
    """A key on the books: its trade row, or only its claim (`trade_keys`) when no row exists."""

    trade_id: str
    side: Side
    product_id: str
    #: When the row's order was created, or the key claimed.
    at: datetime
    #: False for a key claimed with no trade row.
    has_row: bool = True
    settled: bool = False
    filled_size: Decimal = Decimal(0)
    executed_value: Decimal = Decimal(0)
    fill_fees: Decimal = Decimal(0)
    #: The row is one the reconciler recorded (`trades.found_by`).
    found_by_reconciler: bool = False
    #: When the books learned it settled (its fill, for the balances); None while unsettled.
    settled_at: datetime | None = None


@dataclass(frozen=True)
class OrderComparison:
    #: Orders to record on the books (found by the reconciler), or whose figures to bring up
    #: to date on the unsettled row the reconciler recorded for them (a resting order).
    to_record: list[Order] = field(default_factory=list)
    #: Settled orders whose unsettled rows are past the grace period (or the reconciler's own):
    #: complete each row with its order's figures, whoever wrote it.
    to_complete: list[Order] = field(default_factory=list)
    #: Rows the listing of the period did not show: look each up by key before flagging it
    #: (its order may have been created just before the period, or ended with nothing filled).
    unlisted: list[BookEntry] = field(default_factory=list)
    #: Unsettled rows past the grace period whose orders are still open: each a difference.
    stale: list[BookEntry] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    #: Exchange orders and book keys left alone as trades still on their way.
    in_flight: list[str] = field(default_factory=list)


def order_key(order: Order) -> str:
    """The key an exchange order is matched by: its client order ID (an order someone placed
    with none, in a UI that sets none, goes by the exchange's ID)."""
    return order.client_order_id or order.id


def merge_by_trade(orders: Iterable[Order], trade_of: Mapping[str, str]) -> list[Order]:
    """One order per trade: a maker-first trade's orders (`<key>`, `<key>-2`, ... as the books'
    `trade_orders` name them in `trade_of`) as one, under the trade's key, their figures
    summed and settled once all are. Orders the books do not know stay as they are."""
    merged: dict[str, Order] = {}
    for order in orders:
        key = trade_of.get(order_key(order), order_key(order))
        first = merged.get(key)
        if first is None:
            merged[key] = order.model_copy(update={"client_order_id": key})
            continue
        merged[key] = first.model_copy(
            update={
                "filled_size": first.filled_size + order.filled_size,
                "executed_value": first.executed_value + order.executed_value,
                "fill_fees": first.fill_fees + order.fill_fees,
                "settled": first.settled and order.settled,
                "created_at": min(first.created_at, order.created_at),
            }
        )
    return list(merged.values())


def compare_orders(
    exchange: Iterable[Order],
    books: Iterable[BookEntry],
    *,
    now: datetime,
    grace: timedelta,
) -> OrderComparison:
    by_key = {b.trade_id: b for b in books}
    result = OrderComparison()
    seen: set[str] = set()
    for order in exchange:
        key = order_key(order)
        seen.add(key)
        book = by_key.get(key)
        if book is None or (not book.has_row and now - book.at >= grace):
            result.to_record.append(order)
            result.differences.append(
                Difference(
                    DifferenceKind.MISSING_FROM_BOOKS,
                    key,
                    f"{describe(order)} is on the exchange (order {order.id}) and was not on the"
                    " books: recorded now",
                    exchange=order.executed_value,
                )
            )
        elif not book.has_row:
            result.in_flight.append(key)
        elif not book.settled and (order.side, order.product_id) == (book.side, book.product_id):
            if order.settled and (book.found_by_reconciler or now - book.at >= grace):
                result.to_complete.append(order)  # no workflow is left to complete this row
            elif book.found_by_reconciler:
                result.to_record.append(order)  # resting: its figures so far
            elif now - book.at >= grace:
                result.stale.append(book)
            else:
                result.in_flight.append(key)
        else:
            mismatch = _mismatch(order, book, now=now, grace=grace)
            if mismatch is _IN_FLIGHT:
                result.in_flight.append(key)
            elif mismatch is not None:
                result.differences.append(
                    Difference(
                        DifferenceKind.MISMATCH,
                        key,
                        mismatch,
                        books=book.executed_value,
                        exchange=order.executed_value,
                    )
                )
    for book in by_key.values():
        if book.trade_id in seen or not book.has_row:
            continue
        if not book.settled and not book.found_by_reconciler and now - book.at < grace:
            result.in_flight.append(book.trade_id)
        else:
            result.unlisted.append(book)
    return result


def unknown_to_exchange(book: BookEntry) -> Difference:
    state = "settled" if book.settled else "unsettled"
    return Difference(
        DifferenceKind.UNKNOWN_TO_EXCHANGE,
        book.trade_id,
        f"the books have a {state} {book.side.value} {book.product_id}"
        f" ({_money(book.executed_value, book.product_id)} for"
        f" {_coins(book.filled_size, book.product_id)}) that the exchange does not know",
        books=book.executed_value,
    )


#: What `_mismatch` says of a row whose own workflow is still settling it: no difference yet.
_IN_FLIGHT = "in flight"


def _mismatch(order: Order, book: BookEntry, *, now: datetime, grace: timedelta) -> str | None:
    if (order.side, order.product_id) != (book.side, book.product_id):
        return (
            f"the books say {book.side.value} {book.product_id}, the exchange"
            f" {order.side.value} {order.product_id}"
        )
    if not book.settled:  # (compare_orders finishes or waits for these)
        return _IN_FLIGHT
    if not order.settled:
        return f"settled on the books and not on the exchange (order {order.id})"
    fields = [
        (name, getattr(book, name), getattr(order, name))
        for name in ("filled_size", "executed_value", "fill_fees")
    ]
    wrong = [
        f"{name} {mine} on the books, {theirs} on the exchange"
        for name, mine, theirs in fields
        if mine != theirs
    ]
    return "; ".join(wrong) or None


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f} min"


def unsettled(book: BookEntry, now: datetime, order: Order | None = None) -> Difference:
    """A row past the grace period whose order the exchange has not ended."""
    open_order = f"its order {order.id} is still open" if order else "its order is still open"
    return Difference(
        DifferenceKind.UNSETTLED,
        book.trade_id,
        f"unsettled on the books for {_minutes(now - book.at)}: {open_order} on the exchange"
        f" ({book.side.value} {book.product_id}, {book.filled_size} filled so far); the"
        " reconciler completes it once the exchange ends it",
        books=book.executed_value,
        exchange=order.executed_value if order else None,
    )


def describe(order: Order) -> str:
    """`buy BTC-GBP: 0.00125952 BTC for £9.95, fees £0.05`: money as every other command
    shows it (the quote currency to the penny, coins to their increment)."""
    base, quote = currencies(order.product_id)
    state = "" if order.settled else " (not settled yet)"
    return (
        f"{order.side.value} {order.product_id}: {fmt_size(order.filled_size, base)} for"
        f" {fmt_money(order.executed_value, quote)}, fees {fmt_money(order.fill_fees, quote)}"
        f"{state}"
    )


def _money(value: Decimal, product_id: str) -> str:
    return fmt_money(value, currencies(product_id)[1])


def _coins(value: Decimal, product_id: str) -> str:
    return fmt_size(value, currencies(product_id)[0])


# -- balances -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    balance: Decimal
    taken_at: datetime


@dataclass(frozen=True)
class BalanceCheck:
    currency: str
    #: The books' expected balance (None: not checked, see `note`).
    books: Decimal | None
    exchange: Decimal
    note: str = ""

    @property
    def differs(self) -> bool:
        """Apart by a whole increment of the currency or more (a penny, a satoshi)."""
        if self.books is None:
            return False
        return abs(self.exchange - self.books) >= increment(self.currency)


def changes(entry: BookEntry) -> dict[str, Decimal]:
    """What a settled trade moved, per currency (`kripto.fills` gives the signs)."""
    base, quote = currencies(entry.product_id)
    return {
        quote: gbp_change(entry.side, entry.executed_value, entry.fill_fees),
        base: btc_change(entry.side, entry.filled_size),
    }


def compare_balances(
    wallet: Mapping[str, Decimal],
    baselines: Mapping[str, Baseline],
    trades: Sequence[BookEntry],
    in_flight: int = 0,
    *,
    now: datetime | None = None,
    grace: timedelta | None = None,
) -> list[BalanceCheck]:
    """Per currency of the wallet: baseline + what every trade that filled after it moved,
    against the wallet's balance (available + hold), within the currency's increment.
    `trades`: every trade settled after the oldest baseline, and every unsettled one. A trade
    counts by its fill (`settled_at`), not by when its order was created. An unsettled row
    counts for what it has filled so far (a resting order's unfilled rest is a hold: still in
    the balance), except that a currency with a trade of Kripto's own unsettled and younger
    than `grace` is not checked (its balance is in motion; with no `now`, any unsettled one);
    nor is a currency with no baseline yet (this is the first look), nor any while
    `in_flight` trades are on their way (placed, perhaps, and not yet on the books)."""
    checks = []
    for currency in sorted(wallet):
        actual = wallet[currency]
        baseline = baselines.get(currency)
        if baseline is None:
            checks.append(BalanceCheck(currency, None, actual, "baseline taken now"))
            continue
        if in_flight:
            checks.append(
                BalanceCheck(currency, None, actual, f"{in_flight} trade(s) on their way")
            )
            continue
        mine = [t for t in trades if currency in currencies(t.product_id)]
        moving = [t for t in mine if not t.settled and _young(t, now, grace)]
        if moving:
            checks.append(
                BalanceCheck(currency, None, actual, f"{len(moving)} trade(s) not settled yet")
            )
            continue
        expected = baseline.balance + sum(
            (changes(t).get(currency, Decimal(0)) for t in mine if _counts(t, baseline)),
            Decimal(0),
        )
        checks.append(BalanceCheck(currency, expected, actual))
    return checks


def _young(entry: BookEntry, now: datetime | None, grace: timedelta | None) -> bool:
    """Still on its way: a row of Kripto's own within the grace period (a row the reconciler
    recorded is an order placed elsewhere, resting: a hold, never in motion)."""
    if entry.found_by_reconciler:
        return False
    if now is None or grace is None:
        return True
    return now - entry.at < grace


def _counts(entry: BookEntry, baseline: Baseline) -> bool:
    """A settled trade counts when it filled after the baseline; an unsettled one (resting, or
    stale) for what it has filled so far."""
    if not entry.settled:
        return True
    return (entry.settled_at or entry.at) > baseline.taken_at


def balance_difference(check: BalanceCheck) -> Difference:
    assert check.books is not None
    return Difference(
        DifferenceKind.BALANCE,
        check.currency,
        f"the books expect {check.books} {check.currency}, the exchange has {check.exchange}"
        f" ({check.exchange - check.books:+} {check.currency})",
        books=check.books,
        exchange=check.exchange,
    )
