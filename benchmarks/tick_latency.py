"""How long one rate tick takes on the dev server: fetch (simulated feed), then the store and
decide children in parallel (the decision holds: a fresh database has too little history).

Baseline in the same run: a bare workflow with one no-op activity, on the same server and worker.

    .venv/bin/python -m benchmarks.tick_latency [RUNS]
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from temporalio.worker import Worker

from benchmarks.baseline import BareWorkflow, noop
from benchmarks.common import dev_stack, timed
from kripto.models import RateTickInput
from kripto.settings import Settings
from kripto.temporal.worker import build_services, running_worker
from workflows.rate_tick import RateTickWorkflow


async def main(runs: int) -> None:
    async with dev_stack() as (env, url):
        settings = Settings(
            database_url=url, task_queue="bench", feed="simulated", data_dir=Path("/tmp")
        )
        services = await build_services(settings)
        bare = Worker(
            env.client, task_queue="bench-bare", workflows=[BareWorkflow], activities=[noop]
        )
        async with running_worker(env.client, settings, services), bare:

            async def bare_once(i: int) -> object:
                return await env.client.execute_workflow(
                    BareWorkflow.run, i, id=f"bare-{uuid.uuid4()}", task_queue="bench-bare"
                )

            async def tick_once(i: int) -> object:
                return await env.client.execute_workflow(
                    RateTickWorkflow.run,
                    RateTickInput(),
                    id=f"rate-tick-bench-{uuid.uuid4()}",
                    task_queue="bench",
                )

            await bare_once(-1)  # warm up
            baseline = await timed("baseline: 1 workflow + 1 activity", runs, bare_once)
            ticks = await timed("rate tick (fetch + store, decide children)", runs, tick_once)
        await services.close()
    print(f"{runs} runs each, sequential, dev server on this machine")
    print(baseline.line())
    print(ticks.line(baseline))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
