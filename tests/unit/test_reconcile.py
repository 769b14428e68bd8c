"""The reconciler's comparison (kripto/reconcile.py), with no I/O: orders by client order ID,
rows unsettled or with no exchange order yet, and the expected balances."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kripto.metrics import RECONCILE_KINDS
from kripto.models import Order, Side
from kripto.reconcile import (
    Baseline,
    BookEntry,
    DifferenceKind,
    compare_balances,
    compare_orders,
    unknown_to_exchange,
    unsettled,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=10)


def order(key: str, *, at: datetime = NOW - timedelta(hours=1), settled: bool = True) -> Order:
    return Order(
        id=f"ex-{key}",
        client_order_id=key,
        side=Side.BUY,
        product_id="BTC-GBP",
        funds=Decimal("9.95024875"),
        settled=settled,
        created_at=at,
        fill_fees=Decimal("0.049751102976"),
        filled_size=Decimal("0.00125952"),
        executed_value=Decimal("9.9502205952"),
    )


def row(key: str, *, at: datetime = NOW - timedelta(hours=1), **fields: object) -> BookEntry:
    values: dict[str, object] = {
        "settled": True,
        "filled_size": Decimal("0.00125952"),
        "executed_value": Decimal("9.9502205952"),
        "fill_fees": Decimal("0.049751102976"),
    } | fields
    return BookEntry(key, Side.BUY, "BTC-GBP", at, **values)  # type: ignore[arg-type]


def test_matching_orders_and_rows_make_no_difference() -> None:
    result = compare_orders([order("a"), order("b")], [row("a"), row("b")], now=NOW, grace=GRACE)
    assert (result.to_record, result.unlisted, result.differences, result.in_flight) == (
        [],
        [],
        [],
        [],
    )


def test_an_order_no_key_was_claimed_for_is_recorded_however_young() -> None:
    behind = order("behind-our-back", at=NOW - timedelta(seconds=5))
    result = compare_orders([behind], [], now=NOW, grace=GRACE)
    assert result.to_record == [behind]
    [difference] = result.differences
    assert difference.kind is DifferenceKind.MISSING_FROM_BOOKS
    assert difference.subject == "behind-our-back"
    assert difference.exchange == Decimal("9.9502205952")
    assert "recorded now" in difference.detail


def test_a_claimed_key_with_no_row_is_in_flight_until_the_grace_period_ends() -> None:
    young = row("k", at=NOW - timedelta(minutes=2), has_row=False, settled=False)
    result = compare_orders([order("k")], [young], now=NOW, grace=GRACE)
    assert (result.to_record, result.in_flight, result.differences) == ([], ["k"], [])
    old = row("k", at=NOW - timedelta(minutes=30), has_row=False, settled=False)
    result = compare_orders([order("k")], [old], now=NOW, grace=GRACE)
    assert [o.client_order_id for o in result.to_record] == ["k"]


def test_an_unsettled_row_with_no_exchange_order_is_in_flight_while_young() -> None:
    """The books write the row when the key is claimed, before the order exists."""
    placing = row("p", at=NOW - timedelta(minutes=1), settled=False, filled_size=Decimal(0))
    result = compare_orders([], [placing], now=NOW, grace=GRACE)
    assert (result.in_flight, result.unlisted) == (["p"], [])
    stale = row("p", at=NOW - timedelta(minutes=11), settled=False)
    assert compare_orders([], [stale], now=NOW, grace=GRACE).unlisted == [stale]


def test_a_settled_row_the_exchange_does_not_list_is_to_be_looked_up_then_flagged() -> None:
    lost = row("lost", at=NOW - timedelta(seconds=1))
    result = compare_orders([], [lost], now=NOW, grace=GRACE)
    assert result.unlisted == [lost]
    difference = unknown_to_exchange(lost)
    assert difference.kind is DifferenceKind.UNKNOWN_TO_EXCHANGE
    assert difference.books == Decimal("9.9502205952")
    assert difference.detail == (
        "the books have a settled buy BTC-GBP (£9.95 for 0.00125952 BTC) that the exchange"
        " does not know"
    )


def test_amounts_that_differ_are_a_mismatch() -> None:
    result = compare_orders(
        [order("m")], [row("m", fill_fees=Decimal("0.05"))], now=NOW, grace=GRACE
    )
    [difference] = result.differences
    assert difference.kind is DifferenceKind.MISMATCH
    assert difference.detail == "fill_fees 0.05 on the books, 0.049751102976 on the exchange"


def test_any_unsettled_row_past_the_grace_whose_order_settled_is_completed() -> None:
    """Whoever wrote it (its workflow abandoned, say): no workflow is left to complete it."""
    waiting = row("w", at=NOW - timedelta(minutes=5), settled=False)
    assert compare_orders([order("w")], [waiting], now=NOW, grace=GRACE).in_flight == ["w"]
    stuck = row("w", at=NOW - timedelta(minutes=40), settled=False, filled_size=Decimal(0))
    result = compare_orders([order("w")], [stuck], now=NOW, grace=GRACE)
    assert ([o.client_order_id for o in result.to_complete], result.differences) == (["w"], [])
    assert (result.in_flight, result.to_record, result.stale) == ([], [], [])


def test_an_old_unsettled_row_whose_order_is_still_open_is_a_difference_of_its_own() -> None:
    stuck = row("s", at=NOW - timedelta(minutes=40), settled=False, filled_size=Decimal(0))
    result = compare_orders([order("s", settled=False)], [stuck], now=NOW, grace=GRACE)
    assert (result.stale, result.in_flight, result.to_complete) == ([stuck], [], [])
    difference = unsettled(stuck, NOW)
    assert difference.kind is DifferenceKind.UNSETTLED
    assert difference.detail == (
        "unsettled on the books for 40 min: its order is still open on the exchange (buy BTC-GBP,"
        " 0 filled so far); the reconciler completes it once the exchange ends it"
    )


def test_only_young_unsettled_rows_keep_a_balance_from_being_checked() -> None:
    taken = NOW - timedelta(hours=2)
    baselines = {"GBP": Baseline(Decimal("1000.00"), taken)}
    young = row("y", at=NOW - timedelta(minutes=2), settled=False, filled_size=Decimal(0))
    young = replace(young, executed_value=Decimal(0), fill_fees=Decimal(0))
    [check] = compare_balances(
        {"GBP": Decimal("1000.00")}, baselines, [young], now=NOW, grace=GRACE
    )
    assert (check.books, check.note) == (None, "1 trade(s) not settled yet")
    old = replace(young, at=NOW - timedelta(minutes=40))  # abandoned, nothing filled
    [check] = compare_balances({"GBP": Decimal("1000.00")}, baselines, [old], now=NOW, grace=GRACE)
    assert (check.books, check.differs) == (Decimal("1000.00"), False)


def test_a_resting_order_placed_by_hand_is_a_hold_not_a_reason_to_skip() -> None:
    """Recorded unsettled by the reconciler: it has moved what it filled, the rest is a hold
    (still in available + hold), so the balance is checked."""
    taken = NOW - timedelta(hours=2)
    baselines = {"GBP": Baseline(Decimal("1000.00"), taken)}
    resting = row(
        "by-hand",
        at=NOW - timedelta(minutes=1),
        settled=False,
        found_by_reconciler=True,
        filled_size=Decimal(0),
        executed_value=Decimal(0),
        fill_fees=Decimal(0),
    )
    [check] = compare_balances(
        {"GBP": Decimal("1000.00")}, baselines, [resting], now=NOW, grace=GRACE
    )
    assert (check.books, check.exchange, check.differs) == (
        Decimal("1000.00"),
        Decimal("1000.00"),
        False,
    )
    result = compare_orders([order("by-hand", settled=False)], [resting], now=NOW, grace=GRACE)
    assert ([o.client_order_id for o in result.to_record], result.in_flight) == (["by-hand"], [])


def test_a_trade_counts_by_its_fill_not_its_creation() -> None:
    """Created before the baseline and filled after it: its money moved after the baseline."""
    taken = NOW - timedelta(hours=2)
    baselines = {"GBP": Baseline(Decimal("1000.00"), taken)}
    late_fill = row(
        "late", at=taken - timedelta(minutes=3), settled_at=taken + timedelta(minutes=1)
    )
    early = row("early", at=taken - timedelta(minutes=9), settled_at=taken - timedelta(minutes=8))
    wallet = {"GBP": Decimal("990.000028301824")}
    [check] = compare_balances(wallet, baselines, [late_fill, early], now=NOW, grace=GRACE)
    assert (check.books, check.differs) == (Decimal("990.000028301824"), False)


def test_balances_compare_within_the_currencys_increment() -> None:
    taken = NOW - timedelta(hours=2)
    baselines = {"GBP": Baseline(Decimal("1000"), taken), "BTC": Baseline(Decimal("1"), taken)}
    close = {"GBP": Decimal("1000.009999"), "BTC": Decimal("1.000000009")}
    assert [c.differs for c in compare_balances(close, baselines, [])] == [False, False]
    apart = {"GBP": Decimal("999.99"), "BTC": Decimal("1.00000001")}
    assert [c.differs for c in compare_balances(apart, baselines, [])] == [True, True]


def test_expected_balance_is_the_baseline_plus_settled_trades_after_it() -> None:
    taken = NOW - timedelta(hours=2)
    baselines = {"GBP": Baseline(Decimal("1000.00"), taken), "BTC": Baseline(Decimal(0), taken)}
    before = row("before", at=taken - timedelta(minutes=1))  # in the baseline already
    after = row("after")
    wallet = {"GBP": Decimal("990.000028301824"), "BTC": Decimal("0.00125952")}
    checks = compare_balances(wallet, baselines, [before, after])
    assert [(c.currency, c.books, c.exchange, c.differs) for c in checks] == [
        ("BTC", Decimal("0.00125952"), Decimal("0.00125952"), False),
        ("GBP", Decimal("990.000028301824"), Decimal("990.000028301824"), False),
    ]
    wallet["GBP"] += Decimal("5.00")
    gbp = compare_balances(wallet, baselines, [after])[1]
    assert gbp.books is not None
    assert (gbp.differs, gbp.exchange - gbp.books) == (True, Decimal("5.00"))


def test_balances_in_motion_or_without_a_baseline_are_not_checked() -> None:
    taken = NOW - timedelta(hours=2)
    wallet = {"GBP": Decimal("1000"), "EUR": Decimal("3")}
    baselines = {"GBP": Baseline(Decimal("1000"), taken)}
    unsettled = row("u", settled=False)
    checks = {c.currency: c for c in compare_balances(wallet, baselines, [unsettled])}
    assert (checks["GBP"].books, checks["GBP"].note) == (None, "1 trade(s) not settled yet")
    assert (checks["EUR"].books, checks["EUR"].note) == (None, "baseline taken now")
    checks = {c.currency: c for c in compare_balances(wallet, baselines, [], in_flight=2)}
    assert (checks["GBP"].books, checks["GBP"].note) == (None, "2 trade(s) on their way")


def test_every_kind_of_difference_has_its_metric_series() -> None:
    assert tuple(k.value for k in DifferenceKind) == RECONCILE_KINDS


def test_a_row_the_reconciler_recorded_unsettled_is_completed_when_the_order_settles() -> None:
    """No trade workflow owns it, so the reconciler completes it however young; no difference
    for that. While its order rests it is brought up to date, and is no trade on its way."""
    recorded = row("r", at=NOW - timedelta(minutes=1), settled=False, found_by_reconciler=True)
    result = compare_orders([order("r")], [recorded], now=NOW, grace=GRACE)
    assert ([o.client_order_id for o in result.to_complete], result.differences) == (["r"], [])
    still_open = compare_orders([order("r", settled=False)], [recorded], now=NOW, grace=GRACE)
    assert ([o.client_order_id for o in still_open.to_record], still_open.in_flight) == (["r"], [])


def test_a_resting_order_outside_the_period_is_looked_up_not_waited_for() -> None:
    """A hand-placed order the reconciler recorded, resting since before the period: its row
    is looked up by key (and brought up to date), never a trade on its way."""
    resting = row(
        "old-rest", at=NOW - timedelta(minutes=1), settled=False, found_by_reconciler=True
    )
    result = compare_orders([], [resting], now=NOW, grace=GRACE)
    assert (result.unlisted, result.in_flight) == ([resting], [])
