"""Once its order is placed, a trade never gives up: a slow settlement is waited out over as many
short polls and continued-as-new runs as it takes, the order is on the books (unsettled) the
whole time, and it is recorded and receipted once when it settles."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.trades import TradeRepository
from kripto.models import Order, Side, TradeRequest
from kripto.risk import PastTrade
from kripto.runtime.worker import build_services, build_worker
from kripto.settings import Settings
from tests.fakes.coinbase_fixtures import FakeCoinbase
from workflows.trade import TradeWorkflow


async def wait_for_runs(handle: WorkflowHandle[TradeWorkflow, Order], runs: int) -> list[str]:
    """The run IDs of the first `runs` runs of a trade that continues as new, in order."""
    chain = [handle.first_execution_run_id or handle.result_run_id or ""]
    async with asyncio.timeout(60):
        while len(chain) < runs:
            current = await handle._client.get_workflow_handle(handle.id).describe()
            if current.run_id != chain[-1]:
                previous = handle._client.get_workflow_handle(handle.id, run_id=chain[-1])
                status = (await previous.describe()).status
                assert status == WorkflowExecutionStatus.CONTINUED_AS_NEW
                chain.append(current.run_id)
            else:
                await asyncio.sleep(0.05)
    return chain


@pytest.mark.slow
async def test_a_slow_settlement_is_waited_out_and_recorded_once(
    time_skipping_env: WorkflowEnvironment,
    settings: Settings,
    fake_coinbase: FakeCoinbase,
    db: Database,
) -> None:
    live = settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "coinbase_api_private_key": SecretStr(fake_coinbase.private_key_pem),
            # Polls as fast as the fake answers, so the rounds of a run pass in seconds.
            "settle_poll": timedelta(milliseconds=1),
        }
    )
    fake_coinbase.server.settle_after = 10**9  # OPEN until the test says otherwise
    services = await build_services(live)
    key = str(uuid.uuid4())
    request = TradeRequest(idempotency_key=key, trade_type=Side.BUY, amount=Decimal("10.00"))
    trades = TradeRepository(db)
    try:
        async with build_worker(time_skipping_env.client, live, services):
            handle = await time_skipping_env.client.start_workflow(
                TradeWorkflow.run, request, id=key, task_queue=live.temporal.task_queue
            )
            runs = await wait_for_runs(handle, 2)

            # Still settling, a whole run later: on the books, and counted by the guards.
            [pending] = await trades.recent()
            assert (pending.client_order_id, pending.settled) == (key, False)
            assert PastTrade.of(pending).gbp == Decimal("10.00")
            assert list(settings.general.outbox_dir.glob("*.eml")) == []

            fake_coinbase.server.settle_after = 0
            order = await time_skipping_env.client.get_workflow_handle_for(
                TradeWorkflow.run, key
            ).result()
    finally:
        await services.close()

    assert len(set(runs)) == 2
    assert order.settled is True
    assert order.filled_size == Decimal("0.00125952")
    assert fake_coinbase.order_count() == 1
    [recorded] = await trades.recent()
    assert (recorded.settled, recorded.filled_size) == (True, Decimal("0.00125952"))
    assert await trades.count() == 1
    assert len(list(settings.general.outbox_dir.glob("*.eml"))) == 1
