"""No secret (the Coinbase private key, AWS credentials) reaches a workflow history or a log line,
for a trade that succeeds and for one whose credentials are refused."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from kripto.models import Side, TradeRequest
from kripto.settings import Settings
from kripto.temporal.worker import build_services, build_worker
from tests.failures import root_cause
from tests.fakes.coinbase_fixtures import FakeCoinbase, new_ec_key
from workflows.trade import TradeWorkflow

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETKEY"


def secrets_of(pem: str) -> list[str]:
    """The private key's body lines, and the AWS secret."""
    body = [line for line in pem.splitlines() if line and "-----" not in line]
    return [*body, AWS_SECRET]


async def trade_with(
    env: WorkflowEnvironment, settings: Settings, private_pem: str
) -> tuple[str, Client]:
    settings = settings.model_copy(update={"coinbase_api_private_key": SecretStr(private_pem)})
    services = await build_services(settings)
    key = str(uuid.uuid4())
    try:
        async with build_worker(env.client, settings, services):
            try:
                await env.client.execute_workflow(
                    TradeWorkflow.run,
                    TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
                    id=key,
                    task_queue=settings.task_queue,
                )
            except WorkflowFailureError as exc:
                assert "401" in root_cause(exc) or "credentials" in root_cause(exc).lower()
    finally:
        await services.close()
    return key, env.client


@pytest.fixture
async def live_settings(settings: Settings, fake_coinbase: FakeCoinbase) -> AsyncIterator[Settings]:
    yield settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "aws_access_key_id": SecretStr("AKIAKRIPTOTESTKEY"),
            "aws_secret_access_key": SecretStr(AWS_SECRET),
        }
    )


@pytest.mark.parametrize("credentials", ["accepted", "refused"])
async def test_no_secret_in_histories_or_logs(
    time_skipping_env: WorkflowEnvironment,
    live_settings: Settings,
    fake_coinbase: FakeCoinbase,
    caplog: pytest.LogCaptureFixture,
    credentials: str,
) -> None:
    pem = fake_coinbase.private_key_pem if credentials == "accepted" else new_ec_key()[0]
    caplog.set_level(logging.DEBUG)
    key, client = await trade_with(time_skipping_env, live_settings, pem)

    history = await client.get_workflow_handle(key).fetch_history()
    text = json.dumps(history.to_json_dict())
    logs = "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records)
    assert fake_coinbase.order_count() == (1 if credentials == "accepted" else 0)
    for secret in secrets_of(pem):
        assert secret not in text
        assert secret not in logs
    assert "PRIVATE KEY" not in text
    assert "PRIVATE KEY" not in logs
