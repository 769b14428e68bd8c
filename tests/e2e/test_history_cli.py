"""`kripto history` as a person runs it: a backfill with its progress bar against a worker and
the fake Coinbase candles, and a CSV import/export round trip in the backtester's format."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from kripto.backtest.csvfile import read_prices
from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.models import Rate
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from tests.fakes.spot_server import SpotServer, is_gap

pytestmark = pytest.mark.e2e
KRIPTO = str(Path(sys.executable).with_name("kripto"))


def cli_env(settings: Settings, address: str = "127.0.0.1:1") -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": address,
        "KRIPTO_DATABASE_URL": settings.general.require_database_url(),
        "KRIPTO_TASK_QUEUE": settings.temporal.task_queue,
    }


async def cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        KRIPTO, *args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    # Rich wraps at the terminal's width: compare the words.
    return process.returncode or 0, " ".join(out.decode().split()), " ".join(err.decode().split())


@pytest.fixture
async def candles() -> AsyncIterator[SpotServer]:
    server = SpotServer()
    yield server
    server.close()


@pytest.mark.slow
async def test_backfill_shows_progress_and_stores_two_days(
    dev_server_env: WorkflowEnvironment,
    candles: SpotServer,
    settings: Settings,
    db: Database,
    tmp_path: Path,
) -> None:
    settings = settings.model_copy(
        update={"coinbase_url": candles.url, "backfill_requests_per_second": 1000.0}
    )
    services = await build_services(settings)
    env = cli_env(settings, dev_server_env.client.service_client.config.target_host)
    try:
        async with running_worker(dev_server_env.client, settings, services):
            code, out, err = await cli(["history", "backfill", "--days", "2"], env, tmp_path)
            assert (code, err) == (0, "")
            # Again: the same workflow (same product and span), so no new request.
            requests = len(candles.requests)
            code, again, err = await cli(["history", "backfill", "--days", "2"], env, tmp_path)
            assert (code, err) == (0, "")
    finally:
        await services.close()
    assert len(candles.requests) == requests
    rows = await db.pool.fetch("SELECT date_time FROM rates WHERE source = 'coinbase-candles'")
    want = [s for s in range(0, 2 * 86_400, 60)]  # minutes of the span, relative
    first = min(int(r["date_time"].timestamp()) for r in rows)
    span_start = first - first % 3600  # the span starts on a whole hour
    want_set = {span_start + s for s in want if not is_gap(span_start + s)}
    assert {int(r["date_time"].timestamp()) for r in rows} == want_set
    assert "backfill-BTC-GBP-" in out and "100%" in out
    assert f"done: {len(want_set):,} of 2,880 minutes had a candle and are stored (10 pages)" in out
    assert f"done: {len(want_set):,} of 2,880 minutes" in again


@pytest.mark.slow
async def test_csv_import_and_export_round_trip(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    live = Rate(
        product_id="BTC-GBP",
        rate=Decimal("61000.00"),
        date_time=datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
        source="coinbase",
    )
    await RateRepository(db).insert(live)
    source = tmp_path / "in.csv"
    source.write_text(
        "time,price\n"
        "2026-01-01T00:00:00Z,60000.12\n"
        "2026-01-01T00:01:00Z,60001.00\n"
        "2026-01-01T00:03:00+00:00,60003.00000001\n"
    )
    env = cli_env(settings)
    code, out, err = await cli(["history", "import", "--csv", str(source)], env, tmp_path)
    assert (code, err) == (0, "")
    assert (
        "3 rows, 2 new rates for BTC-GBP; 1 kept as they were (those minutes already had a rate)"
        in out
    )
    rows = await db.pool.fetch("SELECT date_time, rate, source FROM rates ORDER BY date_time")
    assert [(r["date_time"].minute, r["rate"], r["source"]) for r in rows] == [
        (0, Decimal("60000.12"), "csv"),
        (1, Decimal("61000.00"), "coinbase"),
        (3, Decimal("60003.00000001"), "csv"),
    ]

    exported = tmp_path / "out.csv"
    code, out, err = await cli(["history", "export", "--csv", str(exported)], env, tmp_path)
    assert (code, err) == (0, "")
    assert f"exported 3 rates for BTC-GBP to {exported}" in out
    assert exported.read_text() == (
        "time,price\n"
        "2026-01-01T00:00:00Z,60000.12\n"
        "2026-01-01T00:01:00Z,61000.00\n"
        "2026-01-01T00:03:00Z,60003.00000001\n"
    )
    prices, first, observed = read_prices(exported)  # the backtester reads it
    assert (first, len(prices), int(observed.sum())) == (datetime(2026, 1, 1, tzinfo=UTC), 4, 3)
    # Importing the export again changes nothing.
    code, out, err = await cli(["history", "import", "--csv", str(exported)], env, tmp_path)
    assert "3 rows, 0 new rates" in out


@pytest.mark.slow
async def test_a_bad_csv_line_is_named_and_nothing_is_stored(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,price\n2026-01-01T00:00:00Z,60000\n2026-01-01T00:01:00Z,abc\n")
    code, _out, err = await cli(
        ["history", "import", "--csv", str(bad)], cli_env(settings), tmp_path
    )
    assert code == 2
    assert f"error: {bad}: line 3: price 'abc' is not a number" in err
    late = tmp_path / "late.csv"
    late.write_text("time,price\n2026-01-01T00:00:30Z,60000\n")
    code, _, err = await cli(["history", "import", "--csv", str(late)], cli_env(settings), tmp_path)
    assert code == 2
    assert "line 2: time '2026-01-01T00:00:30Z' must be on a whole minute" in err
    assert await db.pool.fetchval("SELECT count(*) FROM rates") == 0


@pytest.mark.slow
async def test_ctrl_c_leaves_the_backfill_running_and_the_same_command_reattaches(
    dev_server_env: WorkflowEnvironment,
    candles: SpotServer,
    settings: Settings,
    db: Database,
    tmp_path: Path,
) -> None:
    # 29 days, a span (and so a workflow ID) no other test on the shared dev server uses: 140
    # pages at 20 a second, about 7 s, long enough to interrupt.
    settings = settings.model_copy(
        update={"coinbase_url": candles.url, "backfill_requests_per_second": 20.0}
    )
    services = await build_services(settings)
    env = cli_env(settings, dev_server_env.client.service_client.config.target_host)
    args = [KRIPTO, "history", "backfill", "--days", "29"]
    try:
        async with running_worker(dev_server_env.client, settings, services):
            watcher = await asyncio.create_subprocess_exec(
                *args,
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # As a terminal would have it: a run started in the background (CI, `cmd &`)
                # inherits SIGINT ignored, and Ctrl-C could not be tried at all.
                preexec_fn=_default_sigint,
            )
            # Interrupt once it is watching: it has started the backfill and named it.
            assert watcher.stdout is not None
            first = await asyncio.wait_for(watcher.stdout.readline(), timeout=30)
            watcher.send_signal(signal.SIGINT)
            rest, _ = await asyncio.wait_for(watcher.communicate(), timeout=30)
            said = " ".join((first + rest).decode().split())
            assert "stopped watching; the backfill keeps running in the worker." in said
            workflow_id = next(w for w in said.split() if w.startswith("backfill-BTC-GBP-"))
            workflow_id = workflow_id.rstrip(":")
            described = await dev_server_env.client.get_workflow_handle(workflow_id).describe()
            assert described.status is not None and described.status.name == "RUNNING"
            code, again, err = await cli(["history", "backfill", "--days", "29"], env, tmp_path)
            assert (code, err) == (0, "")
    finally:
        await services.close()
    assert f"{workflow_id}:" in again
    assert "of 41,760 minutes had a candle and are stored (140 pages)" in again
    assert len(candles.requests) == 140  # one backfill, each page once


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def test_offline_the_backfill_says_why_it_waits_and_cancel_stops_it(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database, tmp_path: Path
) -> None:
    """No Coinbase (nothing listens on the port): the watcher prints each failed attempt's
    error and the next try's time rather than 0% for ever, and `--cancel` ends it."""
    settings = settings.model_copy(update={"coinbase_url": "http://127.0.0.1:1"})
    services = await build_services(settings)
    env = cli_env(settings, dev_server_env.client.service_client.config.target_host)
    try:
        async with running_worker(dev_server_env.client, settings, services):
            watcher = await asyncio.create_subprocess_exec(
                KRIPTO, "history", "backfill", "--days", "23",
                env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            assert watcher.stdout is not None
            lines: list[str] = []
            while not any("failed:" in line for line in lines):
                line = await asyncio.wait_for(watcher.stdout.readline(), timeout=30)
                assert line, "the watcher ended without saying why it waits"
                lines.append(line.decode())
            said = next(line for line in lines if "failed:" in line)
            assert said.startswith("attempt 1 failed: "), said
            # Between the backoff's end and the next attempt's start, the pending activity has
            # no next-try time, and the note says so rather than inventing one.
            waiting = "next try at " in said and said.rstrip().endswith(" UTC")
            assert waiting or said.rstrip().endswith("; trying again now"), said
            workflow_id = lines[0].split(":")[0]
            assert workflow_id.startswith("backfill-BTC-GBP-"), lines[0]

            code, out, err = await cli(["history", "backfill", "--cancel"], env, tmp_path)
            assert (code, err) == (0, "")
            assert out == f"cancelled {workflow_id}; the minutes it stored stay"
            _, errors = await asyncio.wait_for(watcher.communicate(), timeout=30)
            assert watcher.returncode == 2
            assert " ".join(errors.decode().split()) == (
                f"error: {workflow_id} was cancelled before it finished"
            )
            described = await dev_server_env.client.get_workflow_handle(workflow_id).describe()
            assert described.status is not None and described.status.name == "CANCELED"
            code, out, err = await cli(["history", "backfill", "--cancel"], env, tmp_path)
            assert (code, out) == (0, "no backfill of BTC-GBP is running")
    finally:
        await services.close()
    assert await db.pool.fetchval("SELECT count(*) FROM rates") == 0
