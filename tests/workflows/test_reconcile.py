"""ReconcileWorkflow on the time-skipping server with the real worker, real Postgres, the paper
exchange and the fake Coinbase server: orders placed behind Kripto's back are recorded and
receipted once, a row the exchange lost is flagged and kept, and balances are checked."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db.reconcile import ReconcileRepository
from kripto.db.trades import TradeRepository
from kripto.exchanges.paper import PaperExchange
from kripto.flows.reconcile import Rebase, ReconcileReport, ReconcileRequest
from kripto.models import Side, TradeRequest
from kripto.runtime.worker import Services, build_services, build_worker
from kripto.settings import Settings
from tests.fakes.coinbase_fixtures import FakeCoinbase
from tests.temporal_fixtures import record_history
from tests.trading_fixtures import Trading
from workflows.reconcile import ReconcileWorkflow, difference_alert
from workflows.trade import TradeWorkflow


async def reconcile(client: Client, task_queue: str, record: str = "") -> ReconcileReport:
    """One reconciliation; with `record`, its history is saved under that name (see
    tests.temporal_fixtures.record_history)."""
    workflow_id = f"reconcile-{uuid.uuid4()}"
    report = await client.execute_workflow(
        ReconcileWorkflow.run, ReconcileRequest(), id=workflow_id, task_queue=task_queue
    )
    if record:
        await record_history(client, workflow_id, record)
    return report


async def trade(trading: Trading, amount: str = "10.00") -> str:
    key = str(uuid.uuid4())
    await trading.client.execute_workflow(
        TradeWorkflow.run,
        TradeRequest(idempotency_key=key, trade_type=Side.BUY, amount=Decimal(amount)),
        id=key,
        task_queue=trading.settings.temporal.task_queue,
    )
    return key


def paper(trading: Trading) -> PaperExchange:
    exchange = trading.services.exchange
    assert isinstance(exchange, PaperExchange)
    return exchange


async def found_by(trading: Trading) -> list[tuple[str, str]]:
    rows = await trading.db.pool.fetch("SELECT trade_id, found_by FROM trades ORDER BY trade_id")
    return [(r["trade_id"], r["found_by"]) for r in rows]


async def test_an_order_placed_behind_kriptos_back_is_recorded_and_receipted_once(
    trading: Trading,
) -> None:
    mine = await trade(trading)
    behind = f"placed-by-hand-{uuid.uuid4()}"  # a key Kripto never claimed
    placed = await paper(trading).place_market_order(
        client_order_id=behind, product_id="BTC-GBP", side=Side.BUY, amount=Decimal("20.00")
    )
    task_queue = trading.settings.temporal.task_queue

    first = await reconcile(trading.client, task_queue, record="reconcile-v1")
    assert [(d.kind, d.subject) for d in first.differences] == [("missing_from_books", behind)]
    assert first.differences[0].exchange == placed.executed_value
    assert (first.recorded, first.to_receipt, first.receipts_sent) == ([behind], [behind], 1)
    assert (first.orders_on_exchange, first.trades_on_books) == (2, 1)
    assert sorted(await found_by(trading)) == sorted([(mine, "trade"), (behind, "reconciler")])
    recorded = await trading.services.exchange.find_order(behind)
    assert recorded is not None and recorded.executed_value == placed.executed_value

    second = await reconcile(trading.client, task_queue)
    assert second.books_match
    assert (second.recorded, second.to_receipt, second.receipts_sent) == ([], [], 0)
    assert (second.orders_on_exchange, second.trades_on_books) == (2, 2)
    # Exactly one trade row and one receipt (one call to the mail provider) for the found order.
    assert await trading.count("trades") == 2
    assert sorted(await trading.receipt_rows()) == sorted([(mine, "sent", 1), (behind, "sent", 1)])
    assert len(trading.receipts_sent()) == 2
    # The balances the second run checked: the baseline (taken by the first) is the wallet.
    wallet = (await paper(trading).wallet()).balances()
    assert {b.currency: (b.books, b.exchange) for b in second.balances} == {
        "BTC": (wallet["BTC"].balance, wallet["BTC"].balance),
        "GBP": (wallet["GBP"].balance, wallet["GBP"].balance),
    }


async def test_books_match_until_a_row_is_lost_and_money_moves_behind_their_back(
    trading: Trading, caplog: pytest.LogCaptureFixture
) -> None:
    task_queue = trading.settings.temporal.task_queue
    await trade(trading)
    clean = await reconcile(trading.client, task_queue)  # takes the baseline
    assert clean.books_match
    assert {b.currency: b.note for b in clean.balances} == {
        "BTC": "baseline taken now",
        "GBP": "baseline taken now",
    }
    lost = await trade(trading, "20.00")
    matched = await reconcile(trading.client, task_queue)
    assert matched.books_match and matched.differences == []
    assert {b.currency: b.books == b.exchange for b in matched.balances} == {
        "BTC": True,
        "GBP": True,
    }

    # The exchange loses the second order (its balances stay), and £5.00 appears in GBP.
    await trading.db.pool.execute("DELETE FROM paper_orders WHERE client_order_id = $1", lost)
    await trading.db.pool.execute(
        "UPDATE paper_accounts SET balance = balance + 5.00 WHERE currency = 'GBP'"
    )
    report = await reconcile(trading.client, task_queue)
    assert [(d.kind, d.subject) for d in report.differences] == [
        ("unknown_to_exchange", lost),
        ("balance", "GBP"),
    ]
    row, balance = report.differences
    assert row.books == Decimal("19.9004411904")
    assert row.detail == (
        "the books have a settled buy BTC-GBP (£19.90 for 0.00251904 BTC) that the exchange"
        " does not know"
    )
    gbp = (await paper(trading).wallet()).gbp.balance
    # £1000.00 less two buys of £10.00 and £20.00 (each spends its whole amount, fees in).
    expected = Decimal("1000.00") - Decimal("9.9502205952") - Decimal("0.049751102976")
    expected -= Decimal("19.9004411904") + Decimal("0.099502205952")
    assert (balance.books, balance.exchange) == (expected, gbp)
    assert gbp - expected == Decimal("5.00")
    assert report.recorded == []
    assert await trading.count("trades") == 2  # flagged, never deleted
    flagged = await trading.db.pool.fetch(
        "SELECT kind, subject, resolved_at FROM reconcile_differences ORDER BY kind"
    )
    assert [(r["kind"], r["subject"], r["resolved_at"]) for r in flagged] == [
        ("balance", "GBP", None),
        ("unknown_to_exchange", lost, None),
    ]
    # Each difference is also news for the phone: a notification child, once, keyed by it.
    first_seen = {d.kind: d.first_seen for d in report.differences}
    assert first_seen["unknown_to_exchange"] is not None
    seen = f"{first_seen['unknown_to_exchange']:%Y%m%dT%H%M%S%fZ}"
    note = trading.client.get_workflow_handle(
        f"notify-alert-reconcile-unknown_to_exchange-{lost}-{seen}"
    )
    assert await (await note.describe()).static_summary() == "notify: alert"
    assert (await note.result()) == {"sent": [], "already": [], "refused": []}  # no channel here
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("books differ:")]
    assert [line.split(":")[1] for line in said] == [
        f" unknown_to_exchange {lost}",
        " balance GBP",
    ]

    # The £5.00 was a deposit: a new GBP baseline is taken, and that difference is resolved.
    await trading.db.pool.execute("DELETE FROM balance_baselines WHERE currency = 'GBP'")
    again = await reconcile(trading.client, task_queue)
    assert [(d.kind, d.subject) for d in again.differences] == [("unknown_to_exchange", lost)]
    assert {b.currency: b.note for b in again.balances}["GBP"] == "baseline taken now"
    resolved = await trading.db.pool.fetchval(
        "SELECT resolved_at IS NOT NULL FROM reconcile_differences WHERE kind = 'balance'"
    )
    assert resolved is True

    # A run over a later period does not see the lost row, and so cannot call it resolved.
    made = await trading.db.pool.fetchval("SELECT created_at FROM trades WHERE trade_id = $1", lost)
    later = await trading.client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileRequest(since=made + timedelta(microseconds=1)),
        id=f"reconcile-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    assert later.books_match
    still_open = await trading.db.pool.fetch(
        "SELECT kind, subject FROM reconcile_differences WHERE resolved_at IS NULL"
    )
    assert [(r["kind"], r["subject"]) for r in still_open] == [("unknown_to_exchange", lost)]


async def test_coinbase_orders_placed_behind_kriptos_back_are_recorded_once(
    time_skipping_env: WorkflowEnvironment, settings: Settings, fake_coinbase: FakeCoinbase
) -> None:
    live = settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "coinbase_api_private_key": SecretStr(fake_coinbase.private_key_pem),
        }
    )
    server = fake_coinbase.server
    server.page_size = 1  # one order a page: the cursor must be followed
    server.settle_after = 1  # an order shows OPEN, nothing filled, until it is read once
    behind = [f"coinbase-app-{uuid.uuid4()}" for _ in range(2)]
    for key in behind:
        assert server.create_order_directly(key, "10.00")["success"] is True
    # The second was created two days ago and filled now: only List Fills shows it in the
    # period, and the reconciler reads it by its ID (which settles it, here).
    late = server.orders[server.by_client_id[behind[1]]]
    late.filled_at = late.created
    late.created -= timedelta(days=2)
    services = await build_services(live)
    try:
        async with build_worker(time_skipping_env.client, live, services):
            first = await reconcile(time_skipping_env.client, live.temporal.task_queue)
            # The first order, recorded while still open, settles on the exchange.
            server.orders[server.by_client_id[behind[0]]].lookups = 1
            second = await reconcile(time_skipping_env.client, live.temporal.task_queue)
            third = await reconcile(time_skipping_env.client, live.temporal.task_queue)
        rows = await services.db.pool.fetch(
            "SELECT trade_id, found_by, settled, executed_value FROM trades ORDER BY trade_id"
        )
        receipts = await services.db.pool.fetch("SELECT trade_id, attempts FROM receipts")
    finally:
        await services.close()
    assert first.exchange == "coinbase"
    assert sorted(first.recorded) == sorted(behind)
    assert sorted(d.subject for d in first.differences) == sorted(behind)
    assert (first.to_receipt, first.receipts_sent) == ([behind[1]], 1)  # the open one waits
    assert second.books_match and second.recorded == []
    assert (second.to_receipt, second.receipts_sent) == ([behind[0]], 1)
    assert third.books_match and (third.recorded, third.receipts_sent) == ([], 0)
    assert [(r["trade_id"], r["found_by"], r["settled"], r["executed_value"]) for r in rows] == [
        (key, "reconciler", True, Decimal("9.9502205952")) for key in sorted(behind)
    ]
    assert sorted((r["trade_id"], r["attempts"]) for r in receipts) == [
        (key, 1) for key in sorted(behind)
    ]
    assert fake_coinbase.order_count() == 2  # the reconciler placed nothing
    requests = server.requests
    assert "GET /api/v3/brokerage/orders/historical/fills" in requests
    assert f"GET /api/v3/brokerage/orders/historical/{late.order_id}" in requests
    # No balance was judged while an order was open; the second run took the baseline, and
    # the third found GBP where it was: £1000.00 less two buys of £10.00.
    assert {b.note for b in first.balances} == {"no baseline yet"}
    gbp = {b.currency: b for b in third.balances}["GBP"]
    assert gbp.books == gbp.exchange == Decimal("980.0000566036480")


async def coinbase_worker_run(
    env: WorkflowEnvironment, settings: Settings, fake_coinbase: FakeCoinbase, runs: int
) -> tuple[list[ReconcileReport], Services]:
    """`runs` reconciliations with the real worker on the fake Coinbase server; the services
    stay open for the caller to read the books (and close)."""
    live = settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "coinbase_api_private_key": SecretStr(fake_coinbase.private_key_pem),
        }
    )
    services = await build_services(live)
    reports = []
    async with build_worker(env.client, live, services):
        for _ in range(runs):
            reports.append(await reconcile(env.client, live.temporal.task_queue))
    return reports, services


async def test_unsettled_rows_whose_orders_ended_are_completed_or_closed_whoever_wrote_them(
    time_skipping_env: WorkflowEnvironment, settings: Settings, fake_coinbase: FakeCoinbase
) -> None:
    """Rows a trade workflow wrote and never finished (abandoned, terminated): one whose order
    settled is completed with the filled figures and receipted once; one whose order the
    exchange ended with nothing filled is closed, never a failed run. Both are outcomes, not
    differences, and the balances are checked."""
    server = fake_coinbase.server
    filled, unfilled = f"abandoned-{uuid.uuid4()}", f"ended-unfilled-{uuid.uuid4()}"
    services = await build_services(settings)  # the books, before the worker runs
    try:
        trades = TradeRepository(services.db)
        for key in (filled, unfilled):
            request = TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00"))
            assert await trades.claim(key, request) is None  # the row, written by its trade
        await ReconcileRepository(services.db).record_abandon(filled, "stuck", "me@host")
        assert server.create_order_directly(filled, "10.00")["success"] is True
        assert server.create_order_directly(unfilled, "10.00", no_fill=True)["success"] is True
        await services.db.pool.execute("UPDATE trades SET created_at = now() - interval '1 hour'")
    finally:
        await services.close()

    [first, second], services = await coinbase_worker_run(
        time_skipping_env, settings, fake_coinbase, runs=2
    )
    try:
        rows = await services.db.pool.fetch(
            "SELECT trade_id, found_by, settled, executed_value, exchange_order_id FROM trades"
        )
        outcomes = await services.db.pool.fetch("SELECT trade_id, outcome FROM reconcile_outcomes")
        keys = await services.db.pool.fetch("SELECT trade_id FROM trade_keys ORDER BY trade_id")
        receipts = await services.db.pool.fetch("SELECT trade_id, status, attempts FROM receipts")
    finally:
        await services.close()
    assert (first.completed, first.closed, first.differences) == ([filled], [unfilled], [])
    assert (first.to_receipt, first.receipts_sent) == ([filled], 1)
    assert (
        f"completed {filled} from its order, settled on the exchange (abandoned: stuck"
        in (first.notes[1])
    )
    assert first.notes[0].startswith(f"closed {unfilled} as unfilled: Coinbase: order")
    assert second.books_match and (second.completed, second.closed, second.receipts_sent) == (
        [],
        [],
        0,
    )
    order_id = server.by_client_id[filled]
    assert [(r["trade_id"], r["found_by"], r["settled"], r["executed_value"]) for r in rows] == [
        (filled, "trade", True, Decimal("9.9502205952"))
    ]
    assert rows[0]["exchange_order_id"] == order_id
    assert sorted((r["trade_id"], r["outcome"]) for r in outcomes) == sorted(
        [(filled, "completed"), (unfilled, "closed_unfilled")]
    )
    assert sorted(r["trade_id"] for r in keys) == sorted([filled, unfilled])  # keys stay claimed
    assert [(r["trade_id"], r["status"], r["attempts"]) for r in receipts] == [(filled, "sent", 1)]
    gbp = {b.currency: b for b in second.balances}["GBP"]
    assert gbp.books == gbp.exchange == Decimal("990.000028301824")
    assert fake_coinbase.order_count() == 2  # the reconciler placed nothing


async def test_a_resting_order_placed_by_hand_is_a_hold_and_the_balance_is_still_checked(
    time_skipping_env: WorkflowEnvironment, settings: Settings, fake_coinbase: FakeCoinbase
) -> None:
    """A limit order resting in the Coinbase app: nothing filled, its funds on hold. It is
    recorded unsettled, and the balance (available + hold) is checked, not skipped."""
    server = fake_coinbase.server
    server.settle_after = 1000  # OPEN, nothing filled, however often it is read
    [baseline], services = await coinbase_worker_run(
        time_skipping_env, settings, fake_coinbase, runs=1
    )
    await services.close()
    assert {b.note for b in baseline.balances} == {"baseline taken now"}
    by_hand = f"coinbase-app-{uuid.uuid4()}"
    assert server.create_order_directly(by_hand, "50.00")["success"] is True
    with server.lock:  # resting, not filled: its funds are held, nothing has moved
        order = server.orders[server.by_client_id[by_hand]]
        gbp, btc = server.accounts["GBP"], server.accounts["BTC"]
        held = order.filled_value + order.total_fees
        gbp.available, gbp.hold = gbp.available, held
        btc.available -= order.filled_size

    [report], services = await coinbase_worker_run(
        time_skipping_env, settings, fake_coinbase, runs=1
    )
    try:
        row = await services.db.pool.fetchrow(
            "SELECT found_by, settled FROM trades WHERE trade_id = $1", by_hand
        )
    finally:
        await services.close()
    assert report.recorded == [by_hand] and report.in_flight == []
    assert (row["found_by"], row["settled"]) == ("reconciler", False)
    checked = {b.currency: (b.books, b.exchange, b.note) for b in report.balances}
    assert checked == {
        "BTC": (Decimal(0), Decimal(0), ""),
        "GBP": (Decimal("1000.00"), Decimal("1000.00"), ""),
    }
    assert [(d.kind, d.subject) for d in report.differences] == [("missing_from_books", by_hand)]


async def test_a_deposit_pages_once_and_a_rebase_takes_a_new_baseline_noted_with_who_and_why(
    trading: Trading,
) -> None:
    task_queue = trading.settings.temporal.task_queue
    await trade(trading)
    assert (await reconcile(trading.client, task_queue)).books_match  # the baseline
    await trading.db.pool.execute(
        "UPDATE paper_accounts SET balance = balance + 500.00 WHERE currency = 'GBP'"
    )
    deposit = await reconcile(trading.client, task_queue)
    [difference] = deposit.differences
    assert (difference.kind, difference.subject) == ("balance", "GBP")
    # More trades change the figures, not the difference: the same first appearance, the same
    # notification key (it pages once).
    await trade(trading)
    later = await reconcile(trading.client, task_queue)
    [again] = later.differences
    assert (again.books, again.exchange) != (difference.books, difference.exchange)
    assert again.first_seen == difference.first_seen is not None
    key = difference_alert(later.exchange, again).key
    assert key == difference_alert(deposit.exchange, difference).key
    assert key == f"alert-reconcile-balance-GBP-{difference.first_seen:%Y%m%dT%H%M%S%fZ}"
    note = trading.client.get_workflow_handle(f"notify-{key}")
    assert await (await note.describe()).static_summary() == "notify: alert"

    rebased = await trading.client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileRequest(rebase=Rebase(reason="deposited £500", by="me@host")),
        id=f"reconcile-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    assert rebased.books_match
    gbp = (await paper(trading).wallet()).gbp.balance
    assert any(n.endswith(f"-> {gbp} (deposited £500; me@host)") for n in rebased.notes)
    baseline = await trading.db.pool.fetchrow(
        "SELECT balance, taken_by, reason FROM balance_baselines WHERE currency = 'GBP'"
    )
    assert (baseline["balance"], baseline["taken_by"], baseline["reason"]) == (
        gbp,
        "me@host",
        "deposited £500",
    )
    history = await trading.db.pool.fetch(
        "SELECT currency, balance, taken_by, reason FROM balance_rebases ORDER BY currency"
    )
    assert [(r["currency"], r["taken_by"], r["reason"]) for r in history] == [
        ("BTC", "me@host", "deposited £500"),
        ("GBP", "me@host", "deposited £500"),
    ]
    resolved = await trading.db.pool.fetchval(
        "SELECT resolved_at IS NOT NULL FROM reconcile_differences WHERE kind = 'balance'"
    )
    assert resolved is True
    await trade(trading)
    assert (await reconcile(trading.client, task_queue)).books_match
