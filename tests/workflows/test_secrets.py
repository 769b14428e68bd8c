"""No secret (the Coinbase private key, AWS credentials) reaches a workflow history or a log line,
for a trade that succeeds with its receipt sent through SES (moto, over HTTP), one whose Coinbase
credentials are refused, and one whose receipt SES refuses."""

from __future__ import annotations

import io
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from kripto.logs import configure_logging
from kripto.metrics import Metrics, metrics_runtime
from kripto.models import Side, TradeRequest
from kripto.runtime.worker import build_services, build_worker
from kripto.settings import Settings
from kripto.temporal.search_attributes import TRADE_STEP
from tests.failures import root_cause
from tests.fakes.coinbase_fixtures import FakeCoinbase, new_ec_key
from tests.fakes.ses_fixtures import SES_SENDER
from workflows.trade import RECEIPT_NOT_SENT, TradeWorkflow

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETKEY"
#: The secret settings beyond the exchange's and the mailer's.
OTHER_SECRETS = {
    "dashboard_token": "dashboard-token-secret-0123456789abcdef",
    "codec_token": "codec-token-secret-0123456789",
    "stop_link_secret": "stop-link-secret-0123456789abcdef",
    "telegram_bot_token": "4242424242:AASecretTelegramTokenForSecretsTest",
    # Loopback, where nobody answers: the news fails and is retried, and says no URL.
    "webhook_urls": "http://127.0.0.1:9/kripto?token=webhookSecretToken0123",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def secrets_of(pem: str) -> list[str]:
    """The private key's body lines, and the AWS secret."""
    body = [line for line in pem.splitlines() if line and "-----" not in line]
    return [*body, AWS_SECRET]


async def trade_with(
    env: WorkflowEnvironment, settings: Settings, private_pem: str
) -> tuple[str, Client, str]:
    """The trade's key, the client, and the worker's metrics as Prometheus scrapes them."""
    settings = settings.model_copy(
        update={"coinbase_api_private_key": SecretStr(private_pem), "metrics_port": free_port()}
    )
    runtime = metrics_runtime(settings)
    assert runtime is not None
    services = await build_services(settings, Metrics(runtime.metric_meter))
    key = str(uuid.uuid4())
    try:
        async with build_worker(env.client, settings, services):
            try:
                await env.client.execute_workflow(
                    TradeWorkflow.run,
                    TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
                    id=key,
                    task_queue=settings.temporal.task_queue,
                )
            except WorkflowFailureError as exc:
                assert "401" in root_cause(exc) or "credentials" in root_cause(exc).lower()
    finally:
        await services.close()
    scraped = httpx.get(f"http://127.0.0.1:{settings.metrics.metrics_port}/metrics", timeout=10)
    assert "kripto_trades_total" in scraped.text
    return key, env.client, scraped.text


@pytest.fixture
async def live_settings(
    settings: Settings, fake_coinbase: FakeCoinbase, ses_verified: str
) -> AsyncIterator[Settings]:
    yield settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "mailer": "ses",
            "ses_endpoint_url": ses_verified,
            "receipt_to": f"{uuid.uuid4().hex}@example.com",
            "receipt_from": SES_SENDER,
            "aws_access_key_id": SecretStr("AKIAKRIPTOTESTKEY"),
            "aws_secret_access_key": SecretStr(AWS_SECRET),
            # Every other secret setting too (kripto.masking's list): none may show anywhere.
            **{name: SecretStr(value) for name, value in OTHER_SECRETS.items()},
            "telegram_api_url": f"http://127.0.0.1:{free_port()}",  # nobody answers
        }
    )


def receipts_to(ses_server: str, recipient: str) -> int:
    messages = httpx.get(f"{ses_server}/moto-api/data.json").json()["ses"]["Message"]
    return sum(recipient in json.dumps(m) for m in messages)


@pytest.mark.parametrize("case", ["accepted", "coinbase refused", "receipt refused"])
async def test_no_secret_in_histories_or_logs(
    time_skipping_env: WorkflowEnvironment,
    live_settings: Settings,
    fake_coinbase: FakeCoinbase,
    ses_server: str,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    pem = new_ec_key()[0] if case == "coinbase refused" else fake_coinbase.private_key_pem
    if case == "receipt refused":  # SES will not send from an address it has not verified
        live_settings = live_settings.model_copy(update={"receipt_from": "nobody@unverified.test"})
    caplog.set_level(logging.DEBUG)
    lines = io.StringIO()  # the worker's own handler, as `kripto worker` writes its log
    configure_logging(live_settings, stream=lines)
    caplog.set_level(logging.DEBUG)
    key, client, metrics = await trade_with(time_skipping_env, live_settings, pem)

    handle = client.get_workflow_handle(key)
    history = await handle.fetch_history()
    text = json.dumps(history.to_json_dict())
    logs = "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records)
    assert fake_coinbase.order_count() == (0 if case == "coinbase refused" else 1)
    assert receipts_to(ses_server, live_settings.mail.receipt_to) == (
        1 if case == "accepted" else 0
    )
    if case == "receipt refused":  # the trade still completes, and says what went wrong
        described = await handle.describe()
        assert described.status == WorkflowExecutionStatus.COMPLETED
        assert described.typed_search_attributes.get(TRADE_STEP) == RECEIPT_NOT_SENT
        assert "nobody@unverified.test" in text
    written = lines.getvalue()
    assert f"[{key}" in written  # the worker's lines were written, with the trade's ID
    for secret in secrets_of(pem):
        assert secret not in text
        assert secret not in logs
        assert secret not in written
        assert secret not in metrics
    assert "AKIAKRIPTOTESTKEY" not in text
    assert "PRIVATE KEY" not in text
    assert "PRIVATE KEY" not in logs
    assert "PRIVATE KEY" not in written
    assert "AKIAKRIPTOTESTKEY" not in written + metrics
    for name, secret in OTHER_SECRETS.items():
        for shown in (secret, secret.split("token=")[-1], secret.split(":")[-1]):
            assert shown not in text + logs + written + metrics, name
