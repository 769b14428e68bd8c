"""A placed order waits as long as it takes: across a continue-as-new (the continued run carries
its order and goes straight back to waiting, with no look-up and no checks), and through
Postgres being down for 30 minutes after placement (the trade waits, then completes with one
order, one row and one receipt). On the time-skipping server, with the fake Coinbase server and
a TCP proxy in front of the real Postgres that the test takes down and brings back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.trades import TradeRepository
from kripto.risk import PastTrade
from kripto.runtime.worker import build_services, build_worker
from kripto.settings import Settings
from tests.fakes.coinbase_fixtures import FakeCoinbase
from tests.fakes.coinbase_server import Fault
from tests.temporal_fixtures import HISTORIES, record_history


class Proxy:
    """A loopback TCP proxy: `down()` drops every connection and refuses new ones, as a
    Postgres outage does; `up()` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        """`host` may be a Unix socket folder (the embedded Postgres listens only there)."""
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            host, port = self.target
            if host.startswith("/"):
                up_reader, up_writer = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
            else:
                up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.transport.abort()
            return
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[Proxy]:
    url = urlsplit(str(settings.general.database_url))
    socket_folder = dict(parse_qsl(url.query)).get("host")
    proxy = Proxy(socket_folder or url.hostname or "127.0.0.1", url.port or 5432)
    await proxy.up()
    try:
        yield proxy
    finally:
        if proxy.server is not None and proxy.server.is_serving():
            await proxy.down()


async def until(condition: object, what: str, seconds: float = 60.0) -> None:
    """Poll an async condition until it holds, or fail naming it."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def guards_count(db: Database) -> Decimal:
    since = datetime.now(UTC) - timedelta(days=1)
    trades = await TradeRepository(db).since(since, quote="GBP")
    return sum((PastTrade.of(t).gbp for t in trades), Decimal(0))


async def test_a_long_wait_continues_as_new_carrying_its_order_and_outlasts_postgres_down(
    fresh_time_skipping_env: WorkflowEnvironment,
    settings: Settings,
    db: Database,
    fake_coinbase: FakeCoinbase,
    proxy: Proxy,
) -> None:
    env = fresh_time_skipping_env
    url = urlsplit(str(settings.general.database_url))
    # Through the proxy on loopback, whether Postgres listens on TCP or (embedded) a socket.
    proxied = urlunsplit(url._replace(netloc=f"{url.username}@127.0.0.1:{proxy.port}", query=""))
    live = settings.model_copy(
        update={
            "database_url": proxied,
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "coinbase_api_private_key": SecretStr(fake_coinbase.private_key_pem),
            # Each settlement round polls for 30 polls: 100 rounds (policies.SETTLE_ROUNDS_PER_RUN)
            # then take seconds before the wait continues as new.
            "settle_poll": timedelta(milliseconds=1),
        }
    )
    fake_coinbase.server.settle_after = 10**6  # open until the test lets it fill
    services = await build_services(live)
    key = f"trade-long-wait-{uuid.uuid4().hex[:8]}"
    client = env.client
    try:
        async with build_worker(client, live, services):
            handle = await client.start_workflow(
                "TradeWorkflow",
                # No idempotencyKey in the payload: the recorded history replays under its
                # file's name as the workflow ID (tests/workflows/test_replay.py).
                {"tradeType": "buy", "amount": "10.00"},
                id=key,
                task_queue=live.temporal.task_queue,
            )
            first_run = handle.result_run_id
            latest = client.get_workflow_handle(key)

            async def continued() -> bool:
                return (await latest.describe()).run_id != first_run

            await until(continued, "the wait to continue as new", 90)
            # On the books at its full amount while it waits; one claim, one order.
            assert await guards_count(db) == Decimal("10.00")
            assert fake_coinbase.order_count() == 1

            await proxy.down()  # Postgres is gone for the worker
            fake_coinbase.server.settle_after = 0  # the order fills; recording it must wait
            await env.sleep(timedelta(minutes=30))
            row = await db.pool.fetchrow("SELECT settled, funds FROM trades")
            assert (row["settled"], row["funds"]) == (False, Decimal("10.00"))
            assert await guards_count(db) == Decimal("10.00")
            await proxy.up()
            result = await latest.result()
    finally:
        await services.close()

    assert result["clientOrderId"] == key and result["settled"] is True
    assert fake_coinbase.order_count() == 1
    posts = [r for r in fake_coinbase.server.requests if r.startswith("POST")]
    assert len(posts) == 1
    [row] = await db.pool.fetch("SELECT trade_id, settled FROM trades")
    assert (row["trade_id"], row["settled"]) == (key, True)
    receipts = await db.pool.fetch("SELECT trade_id, status, attempts FROM receipts")
    assert [(r["trade_id"], r["status"], r["attempts"]) for r in receipts] == [(key, "sent", 1)]

    # The continued run carried its order: no placing, no look-up, straight to waiting.
    events = [e async for e in latest.fetch_history_events()]
    started = events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id == first_run
    assert len(started.input.payloads) == 2
    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert activities[0] == "await_settlement" and "place_order" not in activities
    write_attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert max(write_attempts) > 5  # write_trade kept retrying through the outage
    await record_history(client, key, "trade-v3")
    await record_first_run(client, key, first_run, "trade-v3-first")


async def record_first_run(client: Client, key: str, run_id: str | None, name: str) -> None:
    """As record_history, for the first run (the one that continued as new)."""
    if not os.environ.get("KRIPTO_RECORD_HISTORIES"):
        return
    history = await client.get_workflow_handle(key, run_id=run_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(json.dumps(history.to_json_dict(), indent=1))


async def test_http_errors_after_the_create_are_waited_out_by_the_workflow(
    time_skipping_env: WorkflowEnvironment,
    settings: Settings,
    db: Database,
    fake_coinbase: FakeCoinbase,
) -> None:
    """The whole workflow through a 409 after the order was created, a 401 on the look-up that
    follows, a 403 on the order read and a 400 on write_trade's read: none is read as the
    exchange's verdict, and the trade ends with one order, one row and one receipt."""
    live = settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "coinbase_api_private_key": SecretStr(fake_coinbase.private_key_pem),
            "settle_poll": timedelta(milliseconds=10),
        }
    )
    fake_coinbase.server.settle_after = 2
    fake_coinbase.inject(
        Fault("409", method="POST", path="/orders", after=True),
        # The batch look-up before the create is the first; the retry's look-up is the second.
        Fault("slow", seconds=0, method="GET", path="/orders/historical/batch"),
        Fault("401", method="GET", path="/orders/historical/batch"),
        Fault("403", method="GET", path="/orders/historical/{id}"),
        Fault("400", method="GET", path="/orders/historical/{id}"),
    )
    services = await build_services(live)
    key = f"trade-http-{uuid.uuid4().hex[:8]}"
    try:
        async with build_worker(time_skipping_env.client, live, services):
            result = await time_skipping_env.client.execute_workflow(
                "TradeWorkflow",
                {"tradeType": "buy", "amount": "10.00"},
                id=key,
                task_queue=live.temporal.task_queue,
                result_type=dict,
            )
    finally:
        await services.close()
    assert result["clientOrderId"] == key and result["settled"] is True
    assert fake_coinbase.order_count() == 1
    assert fake_coinbase.state()["pending_faults"] == 0
    [row] = await db.pool.fetch("SELECT trade_id, settled FROM trades")
    assert (row["trade_id"], row["settled"]) == (key, True)
    assert await guards_count(db) == Decimal("9.999971698176")
    receipts = await db.pool.fetch("SELECT trade_id, status, attempts FROM receipts")
    assert [(r["trade_id"], r["status"], r["attempts"]) for r in receipts] == [(key, "sent", 1)]
