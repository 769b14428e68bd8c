"""How long one exchange tick of one market takes on the dev server: fetch (simulated feed),
then the store and decide children in parallel (the decision holds: a fresh database has
too little history).

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
from benchmarks.common import dev_stack, timed, write_json
from kripto.ids import decide_markets_id, store_rates_id
from kripto.models import ExchangeTickInput
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from workflows.exchange_tick import ExchangeTickWorkflow


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
                    ExchangeTickWorkflow.run,
                    ExchangeTickInput(),
                    id=f"tick-bench-{uuid.uuid4()}",
                    task_queue="bench",
                )

            await bare_once(-1)  # warm up
            baseline = await timed("baseline: 1 workflow + 1 activity", runs, bare_once)
            ticks = await timed("exchange tick (fetch + store, decide children)", runs, tick_once)
            # One more tick, to count what it leaves on the server.
            wid = f"tick-bench-{uuid.uuid4()}"
            result = await env.client.execute_workflow(
                ExchangeTickWorkflow.run, ExchangeTickInput(), id=wid, task_queue="bench"
            )
            at = result.at
            events: dict[str, int] = {}
            size = 0
            for w in (wid, store_rates_id("coinbase", at), decide_markets_id("coinbase", at)):
                history = await env.client.get_workflow_handle(w).fetch_history()
                events[w.split("-")[0]] = len(history.events)
                size += sum(event.ByteSize() for event in history.events)
        await services.close()
    print(f"{runs} runs each, sequential, dev server on this machine")
    print(baseline.line())
    print(ticks.line(baseline) + f"   p99 {ticks.p99 * 1000:.1f} ms")
    print(f"events per tick: {events} ({sum(events.values())} in all, {size:,} bytes)")
    print(f"target: <= 2.5x the baseline: {'met' if ticks.p50 <= 2.5 * baseline.p50 else 'MISSED'}")
    write_json(
        "tick_latency",
        {
            "baseline_bare_workflow": baseline.summary(),
            "tick": ticks.summary(),
            "ratio_p50": round(ticks.p50 / baseline.p50, 2),
            "events_per_tick": events,
        },
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
