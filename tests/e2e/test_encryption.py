"""Encrypted payloads on the dev server and its Web UI (in headless Chromium): a worker and
`kripto trade` with keys set, the history as the server stores it (read without the codec),
`kripto codec-server` over HTTP, the plain `temporal` CLI with and without the codec, and a
payload sealed with a key no worker has."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.cli.trading import start_trade
from kripto.db import Database
from kripto.devstack.binaries import find_binary
from kripto.devstack.temporal import TemporalDevServer
from kripto.devstack.ui_proxy import serve_ui_proxy
from kripto.models import Side, TradeRequest
from kripto.runtime.codec_server import codec_url, serve
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from kripto.temporal.client import connect_client
from kripto.temporal.codec import new_key_line
from kripto.temporal.search_attributes import TRADE, ensure_search_attributes
from tests.e2e.browser import chromium
from tests.trading_fixtures import store_rate

pytestmark = pytest.mark.e2e

TOKEN = "test-codec-token-0123456789"
#: What the seed trade (£10.00 at 7900.01, 0.5% fee) would show in clear text.
PLAINTEXT = [b"10.00", b"9.95", b"executedValue", b"0.00125952", b"\xc2\xa310"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Encrypted:
    settings: Settings
    client: Client  # with the codec
    plain: Client  # without it: what the server stores
    codec: str  # the codec server's URL
    env: dict[str, str]  # for CLIs


@pytest.fixture
async def encrypted(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database
) -> AsyncIterator[Encrypted]:
    await store_rate(db)
    address = dev_server_env.client.service_client.config.target_host
    keyed = settings.model_copy(
        update={
            "temporal_address": address,
            "encryption_keys": SecretStr(new_key_line("k1")),
            "codec_token": SecretStr(TOKEN),
            "codec_port": free_port(),
        }
    )
    client = await connect_client(keyed)
    services = await build_services(keyed)
    listening = asyncio.Event()
    server = asyncio.create_task(serve(keyed, started=listening.set))
    await asyncio.wait_for(listening.wait(), 10)
    try:
        async with running_worker(client, keyed, services):
            yield Encrypted(
                keyed,
                client,
                dev_server_env.client,
                codec_url(keyed),
                {
                    **{
                        k: v
                        for k, v in os.environ.items()
                        if not k.startswith(("KRIPTO_", "TEMPORAL_"))
                    },
                    "TEMPORAL_ADDRESS": address,
                },
            )
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        await services.close()


async def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_an_encrypted_trade_stores_no_amount_in_clear_and_decodes_with_the_codec(
    encrypted: Encrypted, db: Database
) -> None:
    key = str(uuid.uuid4())
    request = TradeRequest(idempotency_key=key, trade_type=Side.BUY, amount=Decimal("10.00"))
    order, existed = await start_trade(encrypted.settings, request)
    assert (existed, order.executed_value) == (False, Decimal("9.9502205952"))
    assert await db.pool.fetchval("SELECT count(*) FROM trades") == 1

    # The history exactly as the server keeps it, read by a client without the codec.
    history = await encrypted.plain.get_workflow_handle(key).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert [p for p in PLAINTEXT if p in raw] == []
    assert b"binary/encrypted" in raw and b"encryption-key-id" in raw
    described = await encrypted.plain.get_workflow_handle(key).describe()
    assert described.typed_search_attributes.get(TRADE) == "BUY BTC-GBP"

    # The codec server gives the original back, with the token and only with it.
    started = history.events[0].workflow_execution_started_event_attributes.input
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in started.payloads
        ]
    }
    async with httpx.AsyncClient(base_url=encrypted.codec) as http:
        decoded = await http.post(
            "/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert decoded.status_code == 200, decoded.text
        [payload] = decoded.json()["payloads"]
        assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
        assert json.loads(base64.b64decode(payload["data"])) == {
            "idempotencyKey": key,
            "tradeType": "buy",
            "amount": "10.00",
            "productId": "BTC-GBP",
        }
        wrong = await http.post("/decode", json=body, headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.text) == (403, "invalid codec token")
        missing = await http.post("/decode", json=body)
        assert missing.status_code == 401
        other_site = await http.post("/decode", json=body, headers={"Origin": "https://evil"})
        assert other_site.status_code == 401
        assert "access-control-allow-origin" not in other_site.headers
        preflight = await http.options(
            "/decode",
            headers={
                "Origin": encrypted.settings.encryption.codec_ui_origin,
                "Access-Control-Request-Method": "POST",
            },
        )
        assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"

    # The plain CLI shows plain JSON through the codec server.
    show = [find_binary("temporal"), "workflow", "show", "-w", key, "-o", "json"]
    codec = ["--codec-endpoint", encrypted.codec, "--codec-auth", f"Bearer {TOKEN}"]
    code, out, err = await run([*show, *codec], encrypted.env)
    assert code == 0, err
    assert '"executedValue":"9.9502205952"' in base64_decoded_json(out)
    code, out, err = await run(show, encrypted.env)
    assert code == 0, err
    assert "executedValue" not in base64_decoded_json(out)


def base64_decoded_json(history_json: str) -> str:
    """Every payload's data in a `temporal workflow show -o json` history, decoded (the CLI
    prints json/plain payloads as their JSON and others as base64)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            data = node.get("data")
            if "metadata" in node and isinstance(data, str):
                try:
                    found.append(base64.b64decode(data).decode())
                except ValueError:
                    found.append(data)
            elif "metadata" in node and data is not None:
                found.append(json.dumps(data))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return "\n".join(found)


async def test_the_plain_temporal_cli_still_trades_unencrypted_with_encryption_on(
    encrypted: Encrypted, db: Database
) -> None:
    key = str(uuid.uuid4())
    payload = json.dumps({"idempotencyKey": key, "tradeType": "buy", "amount": "10.00"})
    code, out, err = await run(
        [
            find_binary("temporal"),
            "workflow",
            "execute",
            "--type",
            "TradeWorkflow",
            "--task-queue",
            encrypted.settings.temporal.task_queue,
            "--workflow-id",
            key,
            "--input",
            payload,
            "-o",
            "json",
        ],
        encrypted.env,
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "COMPLETED"
    assert await db.pool.fetchval("SELECT executed_value FROM trades WHERE trade_id = $1", key) == (
        Decimal("9.9502205952")
    )
    # The worker's result is sealed all the same: the codec client reads it.
    order = await encrypted.client.get_workflow_handle(key).result()
    assert order["executedValue"] == "9.9502205952"


async def test_a_payload_sealed_with_a_key_no_worker_has_fails_its_task_with_the_key_named(
    encrypted: Encrypted,
) -> None:
    stranger = encrypted.settings.model_copy(
        update={"encryption_keys": SecretStr(new_key_line("k9"))}
    )
    client = await connect_client(stranger)
    key = str(uuid.uuid4())
    handle = await client.start_workflow(
        "TradeWorkflow",
        {"tradeType": "buy", "amount": "10.00"},
        id=key,
        task_queue=encrypted.settings.temporal.task_queue,
    )
    deadline = time.monotonic() + 30
    failure = None
    while failure is None and time.monotonic() < deadline:
        async for event in encrypted.plain.get_workflow_handle(key).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                failure = event.workflow_task_failed_event_attributes.failure
        await asyncio.sleep(0.2)
    await handle.terminate("test over")
    assert failure is not None
    # Failure messages are sealed too (they may quote amounts); the type is in clear, and the
    # codec (the UI's, the CLI's, this client's) opens the message.
    assert failure.application_failure_info.type == "UnknownKeyError"
    assert str(await encrypted.client.data_converter.decode_failure(failure)) == (
        "UnknownKeyError: payload encrypted with key 'k9', which is not in KRIPTO_ENCRYPTION_KEYS"
        " (configured: k1); add that key back to KRIPTO_ENCRYPTION_KEYS (after the current one)"
        " to read it"
    )


@pytest.mark.slow
async def test_the_web_ui_shows_an_encrypted_trade_decrypted_through_the_codec_server(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    """The dev server's UI pointed at `kripto codec-server` (as `kripto dev --encrypt` does),
    opened in headless Chromium: the trade's page shows its input and result in clear."""
    await store_rate(db)
    port, ui_port = free_port(), free_port()
    keyed = settings.model_copy(
        update={
            "temporal_address": f"127.0.0.1:{port}",
            "encryption_keys": SecretStr(new_key_line("k1")),
            "codec_token": SecretStr(TOKEN),
            "codec_port": free_port(),
            "codec_ui_origin": f"http://127.0.0.1:{ui_port}",
        }
    )
    temporal = TemporalDevServer(tmp_path, port, ui_port, codec_endpoint=codec_url(keyed))
    temporal.start()
    # The UI as `kripto dev` publishes it: behind its Host-checking proxy on `ui_port`.
    ui_stop, ui_up = asyncio.Event(), asyncio.Event()
    ui_proxy = asyncio.create_task(
        serve_ui_proxy(temporal.ui_upstream, ui_port, ui_stop, started=ui_up.set)
    )
    await asyncio.wait_for(ui_up.wait(), 10)
    listening = asyncio.Event()
    server = asyncio.create_task(serve(keyed, started=listening.set))
    services = await build_services(keyed)
    try:
        await asyncio.wait_for(listening.wait(), 10)
        client = await connect_client(keyed)
        await ensure_search_attributes(client, keyed.temporal.temporal_namespace)
        key = str(uuid.uuid4())
        async with running_worker(client, keyed, services):
            request = TradeRequest(
                idempotency_key=key, trade_type=Side.BUY, amount=Decimal("10.00")
            )
            await start_trade(keyed, request)
        run_id = (await client.get_workflow_handle(key).describe()).run_id
        async with chromium(tmp_path / "profile") as browser:
            page = await browser.new_page()
            await page.goto(
                f"{temporal.ui_url}/namespaces/default/workflows/{key}/{run_id}/history"
            )
            # The result, decrypted by the codec server at the UI's request.
            await page.get_by_text("9.9502205952").first.wait_for(timeout=30_000)
            await page.get_by_text('"amount": "10.00"').first.wait_for(timeout=10_000)
            await page.screenshot(path=tmp_path / "trade.png", full_page=True)
            assert "binary/encrypted" not in await page.content()
    finally:
        await services.close()
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        ui_stop.set()
        await ui_proxy
        temporal.stop()
