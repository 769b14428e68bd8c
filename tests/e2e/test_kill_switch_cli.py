"""The kill switch from the command line, against the dev server: `kripto schedule pause`
leaves who and why on the schedule, `kripto schedule status` shows it (and the next run once
resumed), and a manual `kripto trade` during the pause goes through, saying so in one line."""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client, ScheduleState
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.ids import schedule_id
from kripto.runtime.schedules import desired_exchange_schedule
from kripto.settings import Settings
from tests.e2e.test_trade_clis import cli, worker_env  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e
KRIPTO = [sys.executable, "-m", "kripto"]


@pytest.fixture
async def paused_schedule(
    dev_server_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[Client]:
    """The exchange's schedule (of the test's task queue), created paused (so it starts no
    tick), removed afterwards."""
    client = dev_server_env.client
    sid = schedule_id("BTC-GBP", settings.temporal.task_queue)
    handle = client.get_schedule_handle(sid)
    try:
        await handle.delete()
    except RPCError as exc:
        assert exc.status == RPCStatusCode.NOT_FOUND
    schedule, _ = desired_exchange_schedule(settings)
    schedule.state = ScheduleState(paused=True, note="created paused by the test")
    await client.create_schedule(sid, schedule)
    try:
        yield client
    finally:
        await handle.delete()


@pytest.mark.slow
async def test_pause_status_resume_and_a_manual_trade_during_the_pause(
    paused_schedule: Client,
    worker_env: dict[str, str],  # noqa: F811
    db: Database,
    tmp_path: Path,
    settings: Settings,
) -> None:
    env = {**worker_env, "KRIPTO_PRODUCTS": "BTC-GBP"}
    sid = schedule_id("BTC-GBP", settings.temporal.task_queue)
    code, out, err = await cli(
        [*KRIPTO, "schedule", "pause", "--reason", "checking the feed"], env, tmp_path
    )
    assert code == 0, err
    assert f"paused {sid}" in out
    assert "manual trades (`kripto trade`) still go through" in out

    code, out, err = await cli([*KRIPTO, "schedule", "status", "--json"], env, tmp_path)
    assert code == 0, err
    [status] = json.loads(out)
    assert status["productId"] == "BTC-GBP" and status["paused"] is True
    assert status["nextRuns"] == []
    assert re.fullmatch(
        r"paused by \S+ with `kripto schedule pause` at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ:"
        r" checking the feed",
        status["note"],
    ), status["note"]
    code, out, err = await cli([*KRIPTO, "schedule", "status"], env, tmp_path)
    assert code == 0, err
    # The note folds inside its column: read the table's words in order.
    words = " ".join(w for w in out.split() if w not in "│┃")
    assert "paused" in out and "none while paused" in out and "checking the feed" in words

    # A manual trade goes through during the pause, and says so (on stderr: --json stays JSON).
    key = str(uuid.uuid4())
    code, out, err = await cli(
        [*KRIPTO, "trade", "buy", "10.00", "--key", key, "--json"], env, tmp_path
    )
    assert code == 0, err
    assert err.splitlines() == [
        f"trade {key}: BUY £10.00 BTC-GBP",  # the key first, before anything starts
        "note: the kill switch is on for BTC-GBP; this manual trade goes through",
    ]
    assert json.loads(out)["clientOrderId"] == key
    assert await db.pool.fetchval("SELECT count(*) FROM trades WHERE trade_id = $1", key) == 1

    code, out, err = await cli([*KRIPTO, "schedule", "resume"], env, tmp_path)
    assert code == 0, err
    code, out, err = await cli([*KRIPTO, "schedule", "status", "--json"], env, tmp_path)
    [status] = json.loads(out)
    assert status["paused"] is False and status["note"].startswith("resumed by ")
    next_run = datetime.fromisoformat(status["nextRuns"][0])
    assert next_run > datetime.now(UTC)
    # Running again, a manual trade prints no note.
    code, out, err = await cli(
        [*KRIPTO, "trade", "buy", "10.00", "--key", str(uuid.uuid4()), "--json"], env, tmp_path
    )
    assert code == 0, err
    assert "kill switch" not in err
