"""A trade's input marked `json/plain` whose data is not JSON at all ends FAILED in its first
workflow task, with one line saying so: the SDK alone fails the task for ever ("Failed
decoding arguments"). On the real dev server, started with the raw payload."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import RawValue
from temporalio.testing import WorkflowEnvironment

from kripto.runtime.worker import build_services, build_worker, settle_routing
from kripto.settings import Settings
from kripto.temporal.client import data_converter
from tests.failures import root_cause

TRUNCATED = b'{"tradeType": "buy", "amount": '


async def test_an_input_that_is_not_json_fails_the_trade_in_one_task(
    dev_server_env: WorkflowEnvironment, settings: Settings
) -> None:
    plain = settings.model_copy(update={"worker_versioning": True})  # the dev server has them
    # The worker's client, as `kripto worker` connects it (Kripto's data converter).
    config = dev_server_env.client.config()
    config["data_converter"] = data_converter(plain)
    client = Client(**config)
    services = await build_services(plain)
    key = f"trade-not-json-{uuid.uuid4().hex[:8]}"
    raw = RawValue(Payload(metadata={"encoding": b"json/plain"}, data=TRUNCATED))
    try:
        async with build_worker(client, plain, services):
            await settle_routing(client, plain, take_over=True)
            handle = await dev_server_env.client.start_workflow(
                "TradeWorkflow", raw, id=key, task_queue=plain.temporal.task_queue
            )
            with pytest.raises(WorkflowFailureError) as caught:
                await handle.result()
    finally:
        await services.close()
    assert root_cause(caught.value) == (
        f"InvalidInput: input: the payload is not JSON (it starts {TRUNCATED.decode()!r})"
    )
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    events = [e.event_type async for e in handle.fetch_history_events()]
    assert events.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in events
