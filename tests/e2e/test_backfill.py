"""BackfillWorkflow against the fake Coinbase candles: a year with a worker SIGKILLed midway
(every minute with a candle stored once, gaps stay gaps, a live rate kept), and 30 days at the
real page size, through a 429, a 500 and a dropped connection, started twice."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.models import BackfillInput, BackfillProgress, Rate
from kripto.runtime.backfill import backfill_id, start_backfill
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from tests.e2e.workers import start_worker, wait_polling, worker_env
from tests.fakes.spot_server import Reply, SpotServer, candle_close, is_gap
from tests.temporal_fixtures import record_history

pytestmark = pytest.mark.e2e
END = datetime(2026, 1, 1, tzinfo=UTC)
PRODUCT = "BTC-GBP"


@pytest.fixture
def candles() -> Iterator[SpotServer]:
    server = SpotServer()
    yield server
    server.close()


def expected_minutes(start: datetime, end: datetime) -> set[int]:
    first, stop = int(start.timestamp()), int(end.timestamp())
    return {s for s in range(first, stop, 60) if not is_gap(s)}


async def stored(db: Database, start: datetime, end: datetime) -> dict[int, tuple[Decimal, str]]:
    rows = await db.pool.fetch(
        "SELECT date_part('epoch', date_time)::bigint AS s, rate, source FROM rates"
        " WHERE product_id = $1 AND date_time >= $2 AND date_time < $3",
        PRODUCT,
        start,
        end,
    )
    return {r["s"]: (r["rate"], r["source"]) for r in rows}


async def a_live_rate(db: Database, start: datetime) -> int:
    """A rate the live feed stored inside the span, on a minute that has a candle."""
    second = next(s for s in range(int(start.timestamp()) + 86_400, 10**12, 60) if not is_gap(s))
    live = Rate(
        product_id=PRODUCT,
        rate=Decimal("12345.67"),
        date_time=datetime.fromtimestamp(second, UTC),
        source="coinbase",
    )
    assert await RateRepository(db).insert(live)
    return second


@pytest.mark.slow
async def test_a_year_survives_a_killed_worker(
    dev_server_env: WorkflowEnvironment,
    candles: SpotServer,
    database_url: str,
    db: Database,
    task_queue: str,
    tmp_path: Path,
) -> None:
    client = dev_server_env.client
    start = END - timedelta(days=365)
    live_second = await a_live_rate(db, start)
    candles.candle_limit = 1440  # a day a page here; the real 300 is tested on 30 days below
    env = worker_env(
        client.service_client.config.target_host,
        KRIPTO_DATABASE_URL=database_url,
        KRIPTO_TASK_QUEUE=task_queue,
        KRIPTO_DEPLOYMENT_NAME=task_queue,
        KRIPTO_FEED="simulated",
        KRIPTO_COINBASE_URL=candles.url,
        KRIPTO_BACKFILL_PAGE_MINUTES="1440",
        KRIPTO_BACKFILL_REQUESTS_PER_SECOND="1000",
        KRIPTO_DATA_DIR=str(tmp_path),
    )
    first = start_worker("first", env, tmp_path)
    second = None
    try:
        await wait_polling([first])
        settings = Settings(task_queue=task_queue, deployment_name=task_queue)
        request = BackfillInput(
            product_id=PRODUCT,
            start=start,
            end=END,
            pages_per_chunk=10,
            chunks_per_run=8,  # continues as new every 80 pages
            heartbeat_seconds=3,
        )
        handle = await start_backfill(client, settings, request)
        # Kill it mid-chunk, once a quarter of the year is stored.
        async with asyncio.timeout(60):
            while await db.pool.fetchval("SELECT count(*) FROM rates") < 120_000:
                await asyncio.sleep(0.05)
        first.signal(signal.SIGKILL)
        await first.exit_code(within=10)
        second = start_worker("second", env, tmp_path)
        await wait_polling([second])
        done = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        first.stop()
        if second is not None:
            second.stop()

    want = expected_minutes(start, END)
    rows = await stored(db, start, END)
    assert set(rows) == want  # every minute with a candle, and no gap filled
    assert len(want) == 502_748  # 525,600 minutes less 22,852 gaps
    assert rows[live_second] == (Decimal("12345.67"), "coinbase")
    assert all(
        rate == candle_close(s) and source == "coinbase-candles"
        for s, (rate, source) in rows.items()
        if s != live_second
    )
    assert done == BackfillProgress(
        product_id=PRODUCT,
        start=start,
        end=END,
        next_start=END,
        pages_done=365,
        minutes_stored=len(want),
        total_minutes=525_600,
        minutes_done=525_600,
        done=True,
    )
    # Continued as new (so its history stayed small), and resumed after the kill.
    assert handle.id == backfill_id(PRODUCT, start, END)
    runs = [r async for r in client.list_workflows(f'WorkflowId = "{handle.id}"')]
    assert len(runs) == 5  # 365 pages, 80 a run


@pytest.mark.slow
async def test_thirty_days_at_the_real_page_size_through_faults_started_twice(
    dev_server_env: WorkflowEnvironment,
    candles: SpotServer,
    settings: Settings,
    db: Database,
) -> None:
    client = dev_server_env.client
    start = END - timedelta(days=30)
    live_second = await a_live_rate(db, start)
    settings = settings.model_copy(
        update={"coinbase_url": candles.url, "backfill_requests_per_second": 1000.0}
    )
    candles.fail_next(
        Reply(status=429, headers=(("Retry-After", "1"),), candles_only=True),
        Reply(status=500, candles_only=True),
        Reply(drop=True, candles_only=True),
    )
    request = BackfillInput(product_id=PRODUCT, start=start, end=END)
    services = await build_services(settings)
    try:
        async with running_worker(client, settings, services):
            handle = await start_backfill(client, settings, request)
            again = await start_backfill(client, settings, request)
            assert again.id == handle.id
            done = await asyncio.wait_for(handle.result(), timeout=60)
            await record_history(client, handle.id, "backfill-v1")
            requests = len(candles.requests)
            # Started again once done: the same workflow's result, and no new request.
            assert await (await start_backfill(client, settings, request)).result() == done
            assert len(candles.requests) == requests
    finally:
        await services.close()

    want = expected_minutes(start, END)
    rows = await stored(db, start, END)
    assert set(rows) == want
    assert rows[live_second] == (Decimal("12345.67"), "coinbase")
    assert done.pages_done == 144  # 43,200 minutes at 300 a page
    assert done.minutes_stored == len(want)
    assert requests == 144 + 3  # every page once, plus the three that failed
