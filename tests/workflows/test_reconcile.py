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

from kripto.exchanges.paper import PaperExchange
from kripto.models import ReconcileReport, ReconcileRequest, Side, TradeRequest
from kripto.runtime.worker import build_services, build_worker
from kripto.settings import Settings
from tests.fakes.coinbase_fixtures import FakeCoinbase
from tests.temporal_fixtures import record_history
from tests.trading_fixtures import Trading
from workflows.reconcile import ReconcileWorkflow
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
        "the books have a settled buy BTC-GBP (19.9004411904 for 0.00251904) that the exchange"
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
    note = trading.client.get_workflow_handle(f"notify-alert-reconcile-unknown_to_exchange-{lost}")
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
