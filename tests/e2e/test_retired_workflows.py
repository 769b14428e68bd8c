"""A worker refuses to start while a run of a retired workflow type is still open on its task
queue, naming in one line the command that ends them (docs/architecture.md: Retiring a
workflow type); once they are ended, the check passes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from kripto.runtime.retired import RETIRED_WORKFLOWS, open_retired_query, refuse_retired_runs
from tests.e2e.workers import REPO, worker_env

pytestmark = pytest.mark.e2e


async def test_a_worker_refuses_to_start_beside_an_open_run_of_a_retired_type(
    dev_server_env: WorkflowEnvironment, task_queue: str, database_url: str, tmp_path: Path
) -> None:
    client = dev_server_env.client
    assert "RateTickWorkflow" in RETIRED_WORKFLOWS
    # A tick an older build's schedule started; no worker here can run it.
    tick_id = f"rate-tick-BTC-GBP-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        "RateTickWorkflow", {"productId": "BTC-GBP"}, id=tick_id, task_queue=task_queue
    )
    query = open_retired_query(task_queue)
    async with asyncio.timeout(15):  # visibility lags a start a little
        while not (await client.count_workflows(query)).count:
            await asyncio.sleep(0.2)

    env = worker_env(
        client.service_client.config.target_host,
        KRIPTO_DATABASE_URL=database_url,
        KRIPTO_TASK_QUEUE=task_queue,
        KRIPTO_DATA_DIR=str(tmp_path),
    )
    worker = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "kripto", "worker"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 2, worker.stderr
    lines = worker.stderr.strip().splitlines()
    assert len(lines) == 1, worker.stderr
    assert lines[0].startswith(
        f"error: 1 open run(s) of retired workflow types on task queue '{task_queue}'"
        f" (RateTickWorkflow {tick_id}); this build cannot run them"
    ), lines[0]
    assert f'temporal workflow terminate --query "{query}" --reason retired --yes' in lines[0]

    await handle.terminate("retired")
    async with asyncio.timeout(15):
        while (await client.count_workflows(query)).count:
            await asyncio.sleep(0.2)
    await refuse_retired_runs(client, task_queue)  # nothing open: it passes
