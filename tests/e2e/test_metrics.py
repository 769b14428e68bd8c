"""A real worker (run_worker, as `kripto worker` runs it) on the dev server, with its metrics
served by the Temporal SDK's Prometheus endpoint and /healthz beside it: after a tick, a trade
and a trade refused for insufficient funds, the scraped numbers are the events', the SDK's own
metrics are there too, and the refused trade logged one line, not a traceback."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.flows.reconcile import ReconcileRequest
from kripto.flows.ticks import ExchangeTickInput
from kripto.health import health_server
from kripto.ids import schedule_id
from kripto.logs import configure_logging
from kripto.metrics import metrics_runtime
from kripto.models import Side, TradeRequest
from kripto.runtime.kill_switch import KillSwitch, pause_note
from kripto.runtime.monitor import Monitor
from kripto.runtime.schedules import ensure_schedules, set_paused
from kripto.runtime.worker import build_services, build_worker, run_worker
from kripto.settings import Settings
from kripto.temporal.client import connect_client
from tests.failures import root_cause
from tests.fakes.spot_server import Reply, SpotServer
from workflows.exchange_tick import ExchangeTickWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.trade import TradeWorkflow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Prometheus' text format, as far as these metrics use it: `name{a="x",b="y"} value`."""
    samples: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        pairs = [p.split("=", 1) for p in labels.rstrip("}").split(",") if p]
        samples[(name, frozenset((k, v.strip('"')) for k, v in pairs))] = float(value)
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the worker's own log handler writes, in the text format people read."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    yield io.StringIO()
    root.handlers[:] = before[0]
    root.setLevel(before[1])


@asynccontextmanager
async def serving_worker(
    env: WorkflowEnvironment, settings: Settings, log_output: io.StringIO, **updates: object
) -> AsyncIterator[tuple[Client, Settings]]:
    """run_worker as `kripto worker` runs it: its own client on a runtime serving metrics."""
    settings = settings.model_copy(
        update={
            "temporal_address": env.client.service_client.config.target_host,
            "metrics_port": free_port(),
            "health_port": free_port(),
            "metrics_sample_every": timedelta(seconds=1),
            **updates,
        }
    )
    configure_logging(settings, stream=log_output)
    client = await connect_client(settings, runtime=metrics_runtime(settings))
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(client, settings, stop))
    try:
        yield client, settings
    finally:
        stop.set()
        await task


@pytest.fixture
async def worker(
    dev_server_env: WorkflowEnvironment, settings: Settings, log_output: io.StringIO
) -> AsyncIterator[tuple[Client, Settings]]:
    async with serving_worker(
        dev_server_env, settings, log_output, paper_gbp=Decimal("100.00")
    ) as serving:
        yield serving


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.get(url)


async def scrape_until(settings: Settings, ready: str, within: float = 20) -> Samples:
    """Scrape until the `ready` series is there (the gauges are sampled every second)."""
    url = f"http://127.0.0.1:{settings.metrics.metrics_port}/metrics"
    async with asyncio.timeout(within):
        while True:
            samples = parse((await get(url)).text)
            if any(name == ready for name, _ in samples):
                return samples
            await asyncio.sleep(0.2)


async def test_worker_serves_metrics_and_health_for_a_tick_and_trades(
    worker: tuple[Client, Settings], db: Database, log_output: io.StringIO
) -> None:
    client, settings = worker
    health = f"http://127.0.0.1:{settings.metrics.health_port}/healthz"
    async with asyncio.timeout(30):  # listening, polling, and the deployment's current build
        while True:
            try:
                if (reply := await get(health)).status_code == 200:
                    break
            except httpx.ConnectError:
                pass  # not listening yet
            await asyncio.sleep(0.2)
    body = reply.json()
    assert body["healthy"] is True
    assert body["worker"] == {"polling": True, "taskQueue": settings.temporal.task_queue}
    assert body["postgres"] == {"reachable": True} and body["temporal"] == {"reachable": True}
    assert body["newestRateAgeSeconds"] == {"BTC-GBP": None}  # no rate stored yet
    # The deployment's first build is this worker's, current, with this worker polling.
    assert body["deployment"] == {
        "name": settings.temporal.deployment_name,
        "build": settings.temporal.build_id,
        "current": settings.temporal.build_id,
        "currentPollers": 1,
    }

    tick = await client.execute_workflow(
        ExchangeTickWorkflow.run,
        ExchangeTickInput(products=["BTC-GBP"]),
        id=f"tick-coinbase-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal.task_queue,
    )
    assert (tick.stored, tick.actions) == (1, {"BTC-GBP": "hold"})
    key = str(uuid.uuid4())
    order = await client.execute_workflow(
        TradeWorkflow.run,
        TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
        id=key,
        task_queue=settings.temporal.task_queue,
    )
    broke = str(uuid.uuid4())
    with pytest.raises(WorkflowFailureError) as failed:
        await client.execute_workflow(
            TradeWorkflow.run,
            TradeRequest(trade_type=Side.BUY, amount=Decimal("95.00")),
            id=broke,
            task_queue=settings.temporal.task_queue,
        )
    assert (
        "not enough GBP" in root_cause(failed.value)
        or "insufficient" in root_cause(failed.value).lower()
    )

    samples = await scrape_until(settings, "kripto_newest_rate_age_seconds")
    assert value(samples, "kripto_rates_fetched_total", product="BTC-GBP", source="simulated") == 1
    assert (
        value(
            samples,
            "kripto_decisions_total",
            product="BTC-GBP",
            action="hold",
            hold_reason="warming_up",
        )
        == 1
    )
    assert value(samples, "kripto_trades_total", side="buy", outcome="done") == 1
    assert value(samples, "kripto_trades_total", side="buy", outcome="InsufficientFunds") == 1
    assert value(samples, "kripto_traded_gbp_count", side="buy") == 1
    assert value(samples, "kripto_traded_gbp_sum", side="buy") == float(order.executed_value)
    assert value(samples, "kripto_fees_gbp_sum", side="buy") == float(order.fill_fees)
    recorded = await db.pool.fetchrow("SELECT executed_value, fill_fees FROM trades")
    assert (recorded["executed_value"], recorded["fill_fees"]) == (
        order.executed_value,
        order.fill_fees,
    )
    assert value(samples, "kripto_receipts_total", outcome="sent") == 1
    # Every trade is on the books, unsettled, from its claim until it settles: the gauge, sampled
    # every few seconds, may still hold a sample from mid-trade. It comes back to 0.
    async with asyncio.timeout(60):
        while value(samples, "kripto_trades_unsettled") != 0:
            await asyncio.sleep(0.5)
            samples = await scrape_until(settings, "kripto_trades_unsettled")
    assert value(samples, "kripto_oldest_unsettled_trade_age_seconds") == 0
    age = value(samples, "kripto_newest_rate_age_seconds", product="BTC-GBP")
    assert age is not None and age >= 0
    assert value(samples, "kripto_kill_switch_engaged", product="BTC-GBP") in (0, 1)
    assert value(samples, "kripto_activity_retries_total", activity_type="prepare_trade") == 0
    assert value(samples, "kripto_receipts_total", outcome="failed") == 0
    # The SDK's own metrics, on the same endpoint.
    assert (value(samples, "temporal_workflow_completed_total", **_sdk_labels(samples)) or 0) >= 1
    assert any(name == "temporal_request_total" for name, _ in samples)
    assert await db.pool.fetchval("SELECT count(*) FROM trades WHERE settled") == 1

    # The health endpoint reports the rate it now has.
    body = (await get(health)).json()
    assert body["newestRateAgeSeconds"]["BTC-GBP"] >= 0
    assert (await get(health.replace("/healthz", "/other"))).status_code == 404

    # One line per event, with the workflow ID; the refused trade is a line, not a traceback.
    logs = log_output.getvalue()
    assert "Traceback" not in logs
    refused = [line for line in logs.splitlines() if "InsufficientFunds" in line]
    reason = (
        "insufficient funds: buying £95.00 of BTC needs £95.00 GBP available, wallet has £90.00"
    )
    assert [line.split(": ", 1)[1] for line in refused] == [  # the activity's line, the trade's
        f"activity failed (InsufficientFunds, not retried): {reason} [{broke} prepare_trade#1]",
        f"trade BUY £95.00 BTC-GBP: failed: InsufficientFunds: {reason} [{broke}]",
    ]
    for step in ("placing the order", "recording the trade", "sending the receipt", "done"):
        assert any(
            f"trade BUY £10.00 BTC-GBP: {step}" in ln and key in ln for ln in logs.splitlines()
        )
    assert any("receipt sent" in ln and key in ln for ln in logs.splitlines())
    assert any("tick BTC-GBP" in ln and "(simulated): hold: " in ln for ln in logs.splitlines()), (
        logs
    )

    # The worker reconciled as it started; a row the exchange then loses is a difference that
    # every worker's gauge shows (read from Postgres) until a run no longer sees it.
    assert value(samples, "kripto_reconcile_found_orders_total") == 0
    await db.pool.execute("DELETE FROM paper_orders WHERE client_order_id = $1", key)
    report = await client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileRequest(),
        id=f"reconcile-{uuid.uuid4()}",
        task_queue=settings.temporal.task_queue,
    )
    assert [(d.kind, d.subject) for d in report.differences] == [("unknown_to_exchange", key)]
    samples = await scrape_until(settings, "kripto_reconcile_last_run_timestamp_seconds")
    assert value(samples, "kripto_reconcile_differences", kind="unknown_to_exchange") == 1
    for kind in ("missing_from_books", "mismatch", "balance"):
        assert value(samples, "kripto_reconcile_differences", kind=kind) == 0
    last_run = value(samples, "kripto_reconcile_last_run_timestamp_seconds")
    assert last_run is not None and last_run >= report.until.timestamp()
    assert f"books differ: unknown_to_exchange {key}: the books have a settled buy" in (
        log_output.getvalue()
    )


def _sdk_labels(samples: Samples) -> dict[str, str]:
    """The labels of this worker's completed-TradeWorkflow series (namespace, task queue…)."""
    for name, labels in samples:
        if (
            name == "temporal_workflow_completed_total"
            and ("workflow_type", "TradeWorkflow") in labels
        ):
            return dict(labels)
    return {"missing": "temporal_workflow_completed_total"}


async def test_health_is_503_when_postgres_is_unreachable_and_the_worker_not_polling(
    dev_server_env: WorkflowEnvironment, settings: Settings
) -> None:
    """The same check the worker serves, over HTTP, with its database pool closed and its
    worker built but not started."""
    client = dev_server_env.client
    services = await build_services(settings)
    worker = build_worker(client, settings, services)
    await services.db.close()
    monitor = Monitor(
        client,
        services.db,
        services.metrics,
        settings.general.products,
        worker,
        task_queue=settings.temporal.task_queue,
    )
    port = free_port()
    try:
        async with health_server("127.0.0.1", port, monitor.health):
            reply = await get(f"http://127.0.0.1:{port}/healthz")
    finally:
        await services.close()
    assert reply.status_code == 503
    assert reply.json() == {
        "healthy": False,
        "worker": {"polling": False, "taskQueue": settings.temporal.task_queue},
        "temporal": {"reachable": True},
        "postgres": {"reachable": False, "error": "InterfaceError"},
        "newestRateAgeSeconds": {},
        "deployment": {"versioning": False},
    }


async def test_kill_switch_says_since_when_it_is_engaged(
    dev_server_env: WorkflowEnvironment, settings: Settings
) -> None:
    """From the note `kripto schedule pause` leaves, through a worker's start-up update of the
    schedule; a pause from elsewhere (no time in its note) falls back to the last update."""
    client = dev_server_env.client
    settings = settings.model_copy(update={"products": ["LTC-GBP"]})
    switch = KillSwitch(client, task_queue=settings.temporal.task_queue)
    sid = schedule_id("LTC-GBP", settings.temporal.task_queue)
    handle = client.get_schedule_handle(sid)
    thrown = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    try:
        assert await switch.engaged_since("LTC-GBP") is None  # no schedule: nothing paused
        await ensure_schedules(client, settings)
        assert await switch.engaged_since("LTC-GBP") is None
        await set_paused(client, settings, True, pause_note(True, None, "test", thrown))
        faster = settings.model_copy(update={"schedule_every": timedelta(seconds=30)})
        assert await ensure_schedules(client, faster) == {sid: "updated"}
        assert await switch.engaged_since("LTC-GBP") == thrown
        await set_paused(client, settings, False, pause_note(False, None, "test", thrown))
        assert await switch.engaged_since("LTC-GBP") is None
        await handle.pause(note="from the Web UI")
        since = await switch.engaged_since("LTC-GBP")
        assert since is not None and since > thrown
    finally:
        await handle.delete()


async def test_a_retried_fetch_counts_its_failure_and_its_second_attempt(
    dev_server_env: WorkflowEnvironment,
    settings: Settings,
    spot_server: SpotServer,
    log_output: io.StringIO,
) -> None:
    spot_server.fail_next(Reply(status=503))
    async with serving_worker(
        dev_server_env, settings, log_output, feed="coinbase", coinbase_url=spot_server.url
    ) as (client, settings):
        tick = await client.execute_workflow(
            ExchangeTickWorkflow.run,
            ExchangeTickInput(products=["BTC-GBP"]),
            id=f"tick-coinbase-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.task_queue,
        )
        assert (tick.markets, tick.stored) == (1, 1)
        samples = await scrape_until(settings, "kripto_newest_rate_age_seconds")
    assert value(samples, "kripto_activity_retries_total", activity_type="fetch_rates") == 1
    assert (
        value(samples, "kripto_activity_attempts_over_limit_total", activity_type="fetch_rates")
        == 0
    )
    assert (
        value(samples, "kripto_rate_fetch_failures_total", product="BTC-GBP", kind="FeedError") == 1
    )
    assert value(samples, "kripto_rates_fetched_total", product="BTC-GBP", source="coinbase") == 1
    failed = [line for line in log_output.getvalue().splitlines() if "activity failed" in line]
    assert (
        len(failed) == 1
        and "(FeedError, will retry)" in failed[0]
        and "fetch_rates#1]" in failed[0]
    )
    assert "Traceback" not in log_output.getvalue()
