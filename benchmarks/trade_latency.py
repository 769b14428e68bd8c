"""How long a trade takes on the dev server with the paper exchange: from the workflow's start to
the order placed (the `place_order` activity completed, read off the server's history), and to
the whole trade done (validated, placed, recorded, receipted).

Baseline in the same run: a bare workflow with one no-op activity, on the same server and worker.

    .venv/bin/python -m benchmarks.trade_latency [RUNS]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks.baseline import BareWorkflow, noop
from benchmarks.common import Timings, dev_stack, timed
from kripto.db.rates import RateRepository
from kripto.models import Rate, Side, TradeRequest
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from workflows.trade import TradeWorkflow


async def start_to_placed(client: Client, workflow_id: str) -> float:
    """Seconds from WorkflowExecutionStarted to place_order's ActivityTaskCompleted."""
    started: datetime | None = None
    place_scheduled: int | None = None
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = event.event_time.ToDatetime()
        attributes = event.activity_task_scheduled_event_attributes
        if (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and attributes.activity_type.name == "place_order"
        ):
            place_scheduled = event.event_id
        completed = event.activity_task_completed_event_attributes
        if (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            and completed.scheduled_event_id == place_scheduled
            and started is not None
        ):
            return (event.event_time.ToDatetime() - started).total_seconds()
    raise RuntimeError(f"{workflow_id} has no completed place_order")


async def main(runs: int) -> None:
    async with dev_stack() as (env, url):
        settings = Settings(
            database_url=url,
            task_queue="bench",
            feed="simulated",
            paper_gbp=Decimal("100000.00"),
            data_dir=Path(tempfile.mkdtemp(prefix="kripto-bench-trade-")),
        )
        services = await build_services(settings)
        await RateRepository(services.db).insert(
            Rate(rate=Decimal("7900.01"), date_time=datetime.now(UTC), source="simulated")
        )
        bare = Worker(
            env.client, task_queue="bench-bare", workflows=[BareWorkflow], activities=[noop]
        )
        trade_ids: list[str] = []
        async with running_worker(env.client, settings, services), bare:

            async def bare_once(i: int) -> object:
                return await env.client.execute_workflow(
                    BareWorkflow.run, i, id=f"bare-{uuid.uuid4()}", task_queue="bench-bare"
                )

            async def trade_once(i: int) -> object:
                trade_id = str(uuid.uuid4())
                trade_ids.append(trade_id)
                return await env.client.execute_workflow(
                    TradeWorkflow.run,
                    TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00")),
                    id=trade_id,
                    task_queue="bench",
                )

            await bare_once(-1)  # warm up
            baseline = await timed("baseline: 1 workflow + 1 activity", runs, bare_once)
            whole = await timed("trade: start to done (place, record, receipt)", runs, trade_once)
            placed = Timings(
                "trade: start to order placed",
                [await start_to_placed(env.client, t) for t in trade_ids],
            )
            orders = await services.db.pool.fetchval("SELECT count(*) FROM paper_orders")
        await services.close()
    print(f"{runs} runs each, sequential, dev server and paper exchange on this machine")
    print(baseline.line())
    print(placed.line(baseline))
    print(whole.line(baseline))
    print(f"check: {runs} trades placed {orders} paper orders")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
