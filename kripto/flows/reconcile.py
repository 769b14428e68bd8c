"""The reconciler's flow (ReconcileWorkflow): its request, its step and its report."""

from __future__ import annotations

from pydantic import Field

from kripto.models import (
    Money,
    UtcDateTime,
    Wire,
)


class Rebase(Wire):
    """A person's new balance baseline (`kripto reconcile --rebase --reason TEXT`)."""

    reason: str = Field(min_length=1, max_length=500)
    #: Who asked: `user@host` of the command.
    by: str = Field(min_length=1, max_length=200)


class ReconcileRequest(Wire):
    """ReconcileWorkflow's input: from when to compare (default: KRIPTO_RECONCILE_LOOKBACK ago),
    and whether to take new balance baselines (a rebase)."""

    since: UtcDateTime | None = None
    rebase: Rebase | None = None


class ReconcileStep(Wire):
    """The reconcile activity's input: the period. Its end defaults to the activity's own clock
    (the exchange's orders up to the moment they are listed), not the workflow's."""

    since: UtcDateTime | None = None
    until: UtcDateTime | None = None
    rebase: Rebase | None = None


class ReconcileDifference(Wire):
    kind: str
    #: The trade key, or the currency of a balance difference.
    subject: str
    detail: str
    books: Money | None = None
    exchange: Money | None = None
    #: When this difference first appeared (it stays the same difference, whatever its figures
    #: do, until it is resolved): its notification's key.
    first_seen: UtcDateTime | None = None


class ReconcileBalance(Wire):
    currency: str
    #: The books' expected balance; None when it was not checked (`note` says why).
    books: Money | None = None
    exchange: Money
    note: str = ""


class ReconcileReport(Wire):
    """What one reconciliation compared and found."""

    since: UtcDateTime
    until: UtcDateTime
    exchange: str
    orders_on_exchange: int = 0
    trades_on_books: int = 0
    #: Keys of the exchange orders this run put on the books.
    recorded: list[str] = Field(default_factory=list)
    #: Keys of the trades the reconciler found (this run or before) still to be receipted.
    to_receipt: list[str] = Field(default_factory=list)
    receipts_sent: int = 0
    in_flight: list[str] = Field(default_factory=list)
    #: Keys of unsettled rows this run completed from their settled orders (whoever wrote them).
    completed: list[str] = Field(default_factory=list)
    #: Keys of unsettled rows this run closed: the exchange ended their orders unfilled.
    closed: list[str] = Field(default_factory=list)
    #: What this run did beyond comparing, one line each (completed, closed, rebased).
    notes: list[str] = Field(default_factory=list)
    differences: list[ReconcileDifference] = Field(default_factory=list)
    balances: list[ReconcileBalance] = Field(default_factory=list)

    @property
    def books_match(self) -> bool:
        return not self.differences
