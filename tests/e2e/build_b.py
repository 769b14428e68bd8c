"""Build B for the deploy test (tests/e2e/test_deploy.py): a worker whose `TradeWorkflow` takes
one extra step, a short timer before it places the order. That step makes B's trade history
impossible to replay on build A's code and A's on B's, which is the change that needs pinning:
each trade must finish on the build that started it.

    KRIPTO_BUILD_ID=B python -m tests.e2e.build_b

It is a test-only entry point: everything but the one workflow is the real worker."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from kripto.models import Order
    from workflows.trade import TradeWorkflow

EXTRA_STEP = "build B: the extra step"


@workflow.defn(name="TradeWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class TradeWorkflowB(TradeWorkflow):
    @workflow.run
    async def run(self, *args: Any) -> Order:
        await workflow.sleep(timedelta(milliseconds=50), summary=EXTRA_STEP)
        return await super().run(*args)


async def serve() -> None:
    """As `kripto worker` runs: the same start-up, routing watch, drain and retirement."""
    from kripto.runtime.worker import WORKFLOWS, run_worker
    from kripto.settings import load_settings
    from kripto.temporal.client import connect_client

    settings = load_settings()
    client = await connect_client(settings)
    workflows = [TradeWorkflowB if w is TradeWorkflow else w for w in WORKFLOWS]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_worker(
        client, settings, stop, announce=lambda line: print(line, flush=True), workflows=workflows
    )


if __name__ == "__main__":
    asyncio.run(serve())
