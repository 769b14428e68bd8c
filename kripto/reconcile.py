"""Reconciliation: the exchange's orders and balances against the books, with no I/O.

Orders are matched by client order ID, which is the trade's key: the `trades` row's primary
key and the `trade_keys` row's. A book row may be unsettled and may not know its exchange
order ID yet (the key is claimed, and the row written, before the order is placed), so nothing
here matches on the exchange's own order ID.

- An exchange order with no trade row is **missing from the books**: it is recorded (and
  receipted) by the reconciler. One whose key Kripto claimed within the grace period is a trade
  still on its way, left to its own workflow.
- A trade row whose key the exchange does not know is **unknown to the exchange**: flagged,
  never deleted. A young unsettled row is a trade still being placed.
- Both sides know it but disagree (side, product, size, value, fees, or settled on the exchange
  and not on the books past the grace period): a **mismatch**, flagged.
- **Balances**: the books' expected balance of a currency is the wallet's balance when the
  reconciler first looked (its baseline) plus what every settled trade created after that moved.
  A deposit, a withdrawal, or an order the books never heard of shows as a difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from kripto.fills import btc_change, gbp_change
from kripto.models import Order, Side, currencies


class DifferenceKind(StrEnum):
    MISSING_FROM_BOOKS = "missing_from_books"
    UNKNOWN_TO_EXCHANGE = "unknown_to_exchange"
    MISMATCH = "mismatch"
    BALANCE = "balance"


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


@dataclass(frozen=True)
class OrderComparison:
    #: Orders to record on the books (found by the reconciler), or to complete there: an order
    #: the reconciler recorded unsettled that has settled since.
    to_record: list[Order] = field(default_factory=list)
    #: Rows the listing of the period did not show: look each up by key before flagging it
    #: (its order may have been created just before the period).
    unlisted: list[BookEntry] = field(default_factory=list)
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
        elif book.found_by_reconciler and not book.settled and order.settled:
            result.to_record.append(order)  # no trade workflow will complete this row
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
        if not book.settled and now - book.at < grace:
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
        f" ({book.executed_value} for {book.filled_size}) that the exchange does not know",
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
    if not book.settled:
        if order.settled and now - book.at >= grace:
            return (
                f"settled on the exchange (order {order.id}) and still unsettled on the books"
                f" after {_minutes(now - book.at)}"
            )
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


def describe(order: Order) -> str:
    """`buy BTC-GBP: 0.00125952 BTC for 9.9502205952 GBP, fees 0.049751102976`."""
    base, quote = currencies(order.product_id)
    state = "" if order.settled else " (not settled yet)"
    return (
        f"{order.side.value} {order.product_id}: {order.filled_size} {base} for"
        f" {order.executed_value} {quote}, fees {order.fill_fees}{state}"
    )


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
        return self.books is not None and self.books != self.exchange


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
) -> list[BalanceCheck]:
    """Per currency of the wallet: baseline + the settled trades created after it, against the
    wallet's balance (available + hold). `trades`: every trade created after the oldest
    baseline, and every unsettled one. A currency with a trade still unsettled, or with no
    baseline yet, is not checked (its balance is in motion, or this is the first look); nor is
    any while `in_flight` trades are on their way (placed, perhaps, and not yet on the books)."""
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
        moving = [t for t in trades if currency in currencies(t.product_id) and not t.settled]
        if moving:
            checks.append(
                BalanceCheck(currency, None, actual, f"{len(moving)} trade(s) not settled yet")
            )
            continue
        expected = baseline.balance + sum(
            (
                changes(t).get(currency, Decimal(0))
                for t in trades
                if t.settled and t.at > baseline.taken_at
            ),
            Decimal(0),
        )
        checks.append(BalanceCheck(currency, expected, actual))
    return checks


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
