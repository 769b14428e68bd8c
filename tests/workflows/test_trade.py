"""TradeWorkflow on the time-skipping server with a real worker, real Postgres, the paper
exchange and outbox receipts: the seed's trade, exactly once, and bad input placing nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment

from kripto.inputs import AMOUNT_RULE
from kripto.inputs import EXAMPLE as EXAMPLE_INPUT
from kripto.models import Order, Wallet, WalletRequest
from kripto.runtime.worker import build_services, build_worker
from kripto.settings import Settings
from kripto.temporal.search_attributes import AMOUNT_GBP, PRODUCT, SIDE, TRADE, TRADE_STEP
from tests.failures import root_cause
from tests.fakes.coinbase_fixtures import FakeCoinbase
from tests.fakes.coinbase_server import Fault
from tests.trading_fixtures import Trading
from workflows.trade import ALREADY_TRADED, TradeWorkflow
from workflows.wallet import WalletWorkflow

SEED_ORDER = {
    "side": "buy",
    "productId": "BTC-GBP",
    "funds": "9.95024875",
    "settled": True,
    "fillFees": "0.049751102976",
    "filledSize": "0.00125952",
    "executedValue": "9.9502205952",
}


def seed_payload(key: str, **changes: Any) -> dict[str, Any]:
    return {"idempotencyKey": key, "tradeType": "buy", "amount": "10.00", **changes}


async def run_trade(trading: Trading, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Start by type name with a raw JSON payload, as `temporal workflow execute` does."""
    result: dict[str, Any] = await trading.client.execute_workflow(
        "TradeWorkflow",
        payload,
        id=key,
        task_queue=trading.settings.temporal.task_queue,
        result_type=dict,
    )
    return result


async def wallet(trading: Trading) -> Wallet:
    return await trading.client.execute_workflow(
        WalletWorkflow.run,
        WalletRequest(),
        id=f"wallet-{uuid.uuid4()}",
        task_queue=trading.settings.temporal.task_queue,
    )


async def test_the_seed_trade_from_the_seed_payload(trading: Trading) -> None:
    key = str(uuid.uuid4())
    order = await run_trade(trading, key, seed_payload(key))

    assert {k: order[k] for k in SEED_ORDER} == SEED_ORDER
    assert order["clientOrderId"] == key
    assert order["createdAt"].endswith("Z")
    after = await wallet(trading)
    assert after.gbp.available == Decimal("1000.00") - Decimal("9.999971698176")
    assert after.gbp.balance == Decimal("990.000028301824")
    assert after.btc.available == Decimal("0.00125952")
    assert (await trading.count("paper_orders"), await trading.count("trades")) == (1, 1)
    [receipt] = trading.receipts_sent()
    assert await trading.receipt_rows() == [(key, "sent", 1)]
    assert "Kripto Trade Receipt" in receipt.read_text()
    recorded = await trading.db.pool.fetchrow(
        "SELECT executed_value, fill_fees, exchange_order_id FROM trades WHERE trade_id = $1", key
    )
    assert recorded["executed_value"] == Decimal("9.9502205952")
    assert recorded["fill_fees"] == Decimal("0.049751102976")
    assert recorded["exchange_order_id"] == order["id"]


async def test_the_web_ui_list_shows_what_each_trade_is_and_its_step(trading: Trading) -> None:
    key = str(uuid.uuid4())
    await run_trade(trading, key, seed_payload(key, amount="12.50"))
    handle = trading.client.get_workflow_handle(key)
    trades, steps = [], []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if TRADE.name in fields.indexed_fields:
                trades.append(json.loads(fields.indexed_fields[TRADE.name].data))
            if TRADE_STEP.name in fields.indexed_fields:  # not the patch marker's upsert
                steps.append(json.loads(fields.indexed_fields[TRADE_STEP.name].data))
    assert trades == ["BUY £12.50 BTC-GBP"]  # set once, with the first step
    assert steps == ["placing the order", "recording the trade", "sending the receipt", "done"]
    described = await handle.describe()
    attributes = described.typed_search_attributes
    assert attributes.get(TRADE) == "BUY £12.50 BTC-GBP"
    assert attributes.get(TRADE_STEP) == "done"
    # Started by type name with no attributes (as the plain CLI does): the trade set them.
    assert (attributes.get(PRODUCT), attributes.get(SIDE)) == ("BTC-GBP", "buy")
    assert attributes.get(AMOUNT_GBP) == 12.5
    assert await handle.query(TradeWorkflow.current_step) == "done"


async def test_a_rerun_under_the_same_key_returns_the_first_order_and_places_nothing(
    trading: Trading,
) -> None:
    key = str(uuid.uuid4())
    first = await run_trade(trading, key, seed_payload(key))
    # The plain CLI's default reuse policy lets a closed ID run again: a second, full run.
    second = await run_trade(trading, key, seed_payload(key))
    third = await run_trade(trading, key, {"tradeType": "buy", "amount": "10.00"})
    assert first == second == third
    assert (await trading.count("paper_orders"), await trading.count("trades")) == (1, 1)
    # The Web UI tells the second run from a second trade.
    described = await trading.client.get_workflow_handle(key).describe()
    assert described.typed_search_attributes.get(TRADE_STEP) == ALREADY_TRADED
    assert ALREADY_TRADED == "done: already traded, placed nothing"
    assert await trading.receipt_rows() == [(key, "sent", 1)]
    assert len(trading.receipts_sent()) == 1
    assert (await wallet(trading)).btc.balance == Decimal("0.00125952")


async def test_concurrent_starts_under_one_key_make_one_trade(trading: Trading) -> None:
    key = str(uuid.uuid4())

    async def start() -> Order | None:
        try:
            handle = await trading.client.start_workflow(
                TradeWorkflow.run,
                seed_payload_model(key),
                id=key,
                task_queue=trading.settings.temporal.task_queue,
            )
        except WorkflowAlreadyStartedError:
            return None
        return await handle.result()

    results = await asyncio.gather(*(start() for _ in range(5)))
    orders = [r for r in results if r is not None]
    assert len(orders) == 1
    assert (await trading.count("paper_orders"), await trading.count("trades")) == (1, 1)
    assert len(trading.receipts_sent()) == 1
    assert await trading.receipt_rows() == [(key, "sent", 1)]


def seed_payload_model(key: str) -> Any:
    from kripto.models import TradeRequest

    return TradeRequest.model_validate(seed_payload(key))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"amount": "abc"}, f"amount: must be {AMOUNT_RULE}; got 'abc'"),
        ({"amount": "-5.00"}, "amount: must be greater than 0; got '-5.00'"),
        ({"amount": "0"}, "amount: must be greater than 0; got '0'"),
        ({"amount": "0.00"}, "amount: must be greater than 0; got '0.00'"),
        ({"amount": "NaN"}, "amount: must be a number; got 'NaN'"),
        ({"amount": "1e3"}, "amount: must be written out in full, not as \"1e3\"; got '1e3'"),
        ({"amount": " 10.00"}, "amount: must not contain spaces"),
        ({"amount": "\u0661\u0660"}, "amount: must use the digits 0-9 only"),
        (
            {"amount": "10.001"},
            "amount: must have at most 2 decimal places (pennies); got '10.001'",
        ),
        ({"amount": "12345678.00"}, "amount: must have at most 7 digits before the point"),
        ({"amount": 10}, f"amount: must be {AMOUNT_RULE}, not the number 10"),
        ({"amount": 10.5}, f"amount: must be {AMOUNT_RULE}, not the number 10.5"),
        ({"amount": True}, f"amount: must be {AMOUNT_RULE}, not the boolean true"),
        ({"amount": "5000.00"}, "above the per-trade maximum of £1,000.00"),
        ({"tradeType": "hold"}, "tradeType"),
        ({"tradeType": None}, "tradeType"),
        ({"productId": "bitcoin"}, "must look like BASE-QUOTE"),
        ({"productId": "ETH-GBP"}, "productId ETH-GBP is not traded here"),
        ({"idempotencyKey": "someone-else"}, "differs from the workflow ID"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
        ({"ammount": "10.00"}, "ammount: Extra inputs are not permitted"),
    ],
)
async def test_bad_input_fails_at_once_and_places_nothing(
    untouched_trading: Trading, changes: dict[str, Any], reason: str
) -> None:
    key = str(uuid.uuid4())
    payload = seed_payload(key, **changes)
    with pytest.raises(WorkflowFailureError) as caught:
        await run_trade(untouched_trading, key, payload)
    assert reason in root_cause(caught.value)

    handle = untouched_trading.client.get_workflow_handle(key)
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    events = [e.event_type async for e in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events  # no task retry loop
    assert await untouched_trading.count("paper_orders") == 0
    assert await untouched_trading.count("trades") == 0
    assert untouched_trading.receipts_sent() == []
    unchanged = await wallet(untouched_trading)
    assert (unchanged.gbp.balance, unchanged.btc.balance) == (Decimal("1000.00"), Decimal(0))


async def test_a_missing_field_fails_with_its_name(untouched_trading: Trading) -> None:
    key = str(uuid.uuid4())
    with pytest.raises(WorkflowFailureError) as caught:
        await run_trade(untouched_trading, key, {"tradeType": "buy"})
    assert "amount" in root_cause(caught.value)
    assert "Field required" in root_cause(caught.value)


EXAMPLE = "like " + EXAMPLE_INPUT


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([], f"input: a trade takes exactly one JSON object, {EXAMPLE}; got no input"),
        ([seed_payload("k"), seed_payload("k")], "got 2 inputs"),
        ([None], f"input: a trade must be a JSON object, {EXAMPLE}; got null"),
        (["buy 10.00"], "got the string 'buy 10.00'"),
        ([10], "got the number 10"),
        ([[1, 2]], "got a list"),
        ([{}], "tradeType: Field required; amount: Field required"),
    ],
    ids=["nothing", "two", "null", "string", "number", "list", "empty"],
)
async def test_any_input_that_is_not_one_trade_fails_at_once_naming_the_rule(
    untouched_trading: Trading, args: list[Any], reason: str
) -> None:
    key = str(uuid.uuid4())
    handle = await untouched_trading.client.start_workflow(
        "TradeWorkflow",
        args=args,
        id=key,
        task_queue=untouched_trading.settings.temporal.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert reason in root_cause(caught.value)
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    events = [e.event_type async for e in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in events
    step = (await handle.describe()).typed_search_attributes.get(TRADE_STEP)
    assert step is not None and step.startswith("failed: ") and reason[:40] in step
    assert await untouched_trading.count("paper_orders") == 0


async def test_a_key_reused_for_a_different_trade_is_refused_and_places_nothing(
    trading: Trading,
) -> None:
    key = str(uuid.uuid4())
    first = await run_trade(trading, key, seed_payload(key))
    # The plain CLI lets a closed ID run again: the second run must not trade, nor pass for one.
    for changes, this in [
        ({"tradeType": "sell", "amount": "20.00"}, "SELL £20.00 BTC-GBP"),
        ({"amount": "10.01"}, "BUY £10.01 BTC-GBP"),
    ]:
        with pytest.raises(WorkflowFailureError) as caught:
            await run_trade(trading, key, seed_payload(key, **changes))
        assert root_cause(caught.value) == (
            f"KeyReused: key {key} was used for BUY £10.00 BTC-GBP; this request is {this}"
        )
    # An identical request still gets the first order back.
    assert await run_trade(trading, key, seed_payload(key)) == first
    assert (await trading.count("paper_orders"), await trading.count("trades")) == (1, 1)
    assert await trading.receipt_rows() == [(key, "sent", 1)]
    assert (await wallet(trading)).btc.balance == Decimal("0.00125952")


async def test_selling_btc_we_do_not_hold_is_refused_without_retrying(trading: Trading) -> None:
    key = str(uuid.uuid4())
    with pytest.raises(WorkflowFailureError) as caught:
        await run_trade(trading, key, seed_payload(key, tradeType="sell"))
    assert "insufficient funds" in root_cause(caught.value)
    events = [e async for e in trading.client.get_workflow_handle(key).fetch_history_events()]
    started = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert max(e.activity_task_started_event_attributes.attempt for e in started) == 1
    assert await trading.count("paper_orders") == 0


@pytest.mark.slow
async def test_exchange_faults_are_retried_into_exactly_one_order(
    time_skipping_env: WorkflowEnvironment, settings: Settings, fake_coinbase: FakeCoinbase
) -> None:
    """429 (Retry-After), then 500, then a connection dropped after the order was created,
    then success; the order also needs polling before it settles."""
    live = settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "coinbase_api_private_key": SecretStr(fake_coinbase.private_key_pem),
        }
    )
    fake_coinbase.server.settle_after = 1
    fake_coinbase.inject(
        Fault("429", retry_after=2, method="POST", path="/orders"),
        Fault("500", method="POST", path="/orders"),
        Fault("drop", method="POST", path="/orders"),
    )
    services = await build_services(live)
    key = str(uuid.uuid4())
    try:
        async with build_worker(time_skipping_env.client, live, services):
            order = await time_skipping_env.client.execute_workflow(
                TradeWorkflow.run,
                seed_payload_model(key),
                id=key,
                task_queue=live.temporal.task_queue,
            )
    finally:
        await services.close()
    assert fake_coinbase.order_count() == 1
    assert order.client_order_id == key
    assert order.settled is True
    assert order.filled_size == Decimal("0.00125952")
    posts = [r for r in fake_coinbase.server.requests if r.startswith("POST")]
    # 429, 500, dropped after the order was created; the next attempt finds it by its key.
    assert len(posts) == 3


@pytest.mark.parametrize(
    ("setting", "taker", "decided_with"),
    [("0.005", "0.012", "0.012"), ("0.015", "0.012", "0.015")],
)
async def test_live_decisions_weigh_the_accounts_own_fee_when_it_is_higher(
    settings: Settings, fake_coinbase: FakeCoinbase, setting: str, taker: str, decided_with: str
) -> None:
    """Coinbase retail takers pay 0.6% to 1.2%: the fee guard must not assume 0.5%."""
    fake_coinbase.server.fee_rate = Decimal(taker)
    live = settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "fee_rate": Decimal(setting),
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "coinbase_api_private_key": SecretStr(fake_coinbase.private_key_pem),
        }
    )
    services = await build_services(live)
    try:
        assert services.fee_rate == Decimal(decided_with)
    finally:
        await services.close()
