"""Property: whatever is sent to TradeWorkflow, it ends cleanly. Generated inputs go through the
real workflow on the time-skipping server, with a real worker, Postgres and the paper exchange.
Every invalid input ends FAILED at once with a one-line reason naming the field, and places
nothing; every valid input trades exactly once."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.models import Side
from kripto.runtime.worker import build_services, build_worker
from kripto.settings import Settings
from tests.failures import root_cause
from tests.trading_fixtures import Trading, store_rate

FIELDS = {"idempotencyKey", "tradeType", "amount", "productId"}
MAX_TRADE = Decimal("1000.00")
#: The count the closing note quotes: how many inputs this property ran.
RAN: list[str] = []


def expected_valid(args: list[Any], key: str) -> bool:
    """The rules as docs/using.md states them, written out independently of the code under test."""
    if len(args) != 1 or not isinstance(args[0], dict):
        return False
    body = args[0]
    if not set(body) <= FIELDS or not {"tradeType", "amount"} <= set(body):
        return False
    if body["tradeType"] not in ("buy", "sell"):
        return False
    amount = body["amount"]
    if not isinstance(amount, str) or not re.fullmatch(r"[0-9]{1,7}(\.[0-9]{1,2})?", amount):
        return False
    if not Decimal(0) < Decimal(amount) <= MAX_TRADE:
        return False
    if body.get("productId", "BTC-GBP") != "BTC-GBP":
        return False
    return body.get("idempotencyKey") in (None, key)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
valid_amounts = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("5.00"), places=2).map(str)
amounts = st.one_of(
    st.sampled_from(
        [
            "10",
            "0.5",
            "0",
            "0.00",
            "-1.00",
            "1e2",
            "10.001",
            " 5",
            "5 ",
            "NaN",
            "1000.01",
            "12345678",
            "Infinity",
            "\u0661\u0660",
            "5,00",
            "",
            "0x10",
        ]
    ),
    st.text(max_size=10),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
)


@st.composite
def trade_args(draw: st.DrawFn, key: str) -> list[Any]:
    """About half valid trades, half near misses (one field wrong, missing or extra), and some
    inputs that are not one trade at all."""
    body: dict[str, Any] = {
        "tradeType": draw(st.sampled_from(["buy", "sell"])),
        "amount": draw(valid_amounts),
    }
    if draw(st.booleans()):
        body["productId"] = "BTC-GBP"
    if draw(st.booleans()):
        body["idempotencyKey"] = draw(st.sampled_from([key, None]))
    match draw(st.integers(0, 15)):
        case 0:
            return []
        case 1:
            return [body, body]
        case 2:
            return [draw(json_values)]
        case 3:
            body["tradeType"] = draw(st.sampled_from(["BUY", "hold", None, 1]))
        case 4 | 5:
            body["amount"] = draw(amounts)
        case 6:
            body["productId"] = draw(st.sampled_from(["ETH-GBP", "btc-gbp", "BTCGBP", 7]))
        case 7:
            body["idempotencyKey"] = draw(st.sampled_from(["someone-else", "", 5]))
        case 8:
            body[draw(st.sampled_from(["ammount", "side", "extra"]))] = draw(json_values)
        case 9:
            body.pop(draw(st.sampled_from(["tradeType", "amount"])))
    return [body]


@pytest.fixture
async def big_trading(
    time_skipping_env: WorkflowEnvironment, settings: Settings, db: Database
) -> AsyncIterator[Trading]:
    """A paper wallet deep enough that no valid generated trade runs out of funds: £10m, half
    of it already in BTC (bought on the exchange directly, as a deposit would be)."""
    rich = settings.model_copy(
        update={"paper_gbp": Decimal("10000000"), "max_trade_gbp": MAX_TRADE}
    )
    await store_rate(db)
    services = await build_services(rich)
    await services.exchange.place_market_order(
        client_order_id="deposit", product_id="BTC-GBP", side=Side.BUY, amount=Decimal("5000000")
    )
    async with build_worker(time_skipping_env.client, rich, services):
        yield Trading(time_skipping_env.client, rich, services, db)
    await services.close()


@hypothesis_settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@pytest.mark.slow
async def test_every_input_ends_cleanly(big_trading: Trading, data: st.DataObject) -> None:
    trading = big_trading
    key = f"prop-{uuid.uuid4()}"
    args = data.draw(trade_args(key))
    valid = expected_valid(args, key)
    orders_before = await trading.count("paper_orders")
    handle = await trading.client.start_workflow(
        "TradeWorkflow", args=args, id=key, task_queue=trading.settings.temporal.task_queue
    )
    try:
        result = await handle.result()
        failure = None
    except WorkflowFailureError as err:
        result, failure = None, root_cause(err)
    RAN.append("valid" if valid else "invalid")

    orders_after = await trading.count("paper_orders")
    if valid:
        assert failure is None, f"{args!r} should trade: {failure}"
        assert result["clientOrderId"] == key
        assert orders_after == orders_before + 1
        assert (
            await trading.db.pool.fetchval("SELECT count(*) FROM trades WHERE trade_id = $1", key)
            == 1
        )
        return
    assert failure is not None, f"{args!r} should be refused"
    # One line, naming the field (or the input as a whole) first.
    assert "\n" not in failure
    assert re.match(rf"^(\w+: )?({'|'.join(FIELDS)}|input|ammount|side|extra)\b", failure), failure
    assert orders_after == orders_before
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    events = [e async for e in handle.fetch_history_events()]
    kinds = [e.event_type for e in events]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
    # Rules that need settings (product, per-trade maximum) are checked by the first activity,
    # once: never an activity retrying over a validation problem.
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts in ([], [1])


def test_report_how_many_inputs_ran() -> None:
    """Printed with -s (and in the closing note): the property's run, valid and invalid."""
    valid, invalid = RAN.count("valid"), RAN.count("invalid")
    print(f"property run: {len(RAN)} inputs, {valid} valid, {invalid} invalid")
