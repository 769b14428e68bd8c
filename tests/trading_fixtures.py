"""A worker with the whole trading stack (paper or fake-Coinbase exchange, outbox receipts) on
the time-skipping test server, and helpers to count what a trade left behind."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.models import Rate
from kripto.runtime.worker import Services, build_services, build_worker
from kripto.settings import Settings
from tests.conftest import fresh_database

SEED_RATE = Decimal("7900.01")


@dataclass
class Trading:
    client: Client
    settings: Settings
    services: Services
    db: Database

    async def count(self, table: str) -> int:
        return int(await self.db.pool.fetchval(f"SELECT count(*) FROM {table}"))

    async def receipt_rows(self) -> list[tuple[str, str, int]]:
        """(trade, status, mail-provider calls) per receipt row: the outbox file of a second
        send would replace the first, so the row's count of sends is what proves "once"."""
        rows = await self.db.pool.fetch("SELECT trade_id, status, attempts FROM receipts")
        return [(r["trade_id"], r["status"], r["attempts"]) for r in rows]

    def receipts_sent(self) -> list[Path]:
        return sorted(self.settings.general.outbox_dir.glob("*.eml"))


async def store_rate(db: Database, price: Decimal = SEED_RATE) -> None:
    await RateRepository(db).insert(
        Rate(rate=price, date_time=datetime(2020, 5, 19, 19, 39, tzinfo=UTC), source="coinbase")
    )


@asynccontextmanager
async def trading_stack(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Trading]:
    """The paper exchange with £1000.00, a stored rate of 7900.01, and receipts in the outbox."""
    services = await build_services(settings)
    await store_rate(services.db)
    try:
        async with build_worker(env.client, settings, services):
            yield Trading(env.client, settings, services, services.db)
    finally:
        await services.close()


@pytest.fixture
async def trading(
    time_skipping_env: WorkflowEnvironment, settings: Settings, db: Database
) -> AsyncIterator[Trading]:
    """The paper exchange with £1000.00, a stored rate of 7900.01, and receipts in the outbox."""
    await store_rate(db)
    services = await build_services(settings)
    async with build_worker(time_skipping_env.client, settings, services):
        yield Trading(time_skipping_env.client, settings, services, db)
    await services.close()


@pytest.fixture(scope="module")
async def untouched_trading(
    time_skipping_env: WorkflowEnvironment,
    pg_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Trading]:
    """One `trading` stack shared by a module's tests that must leave it untouched (bad input
    that places nothing): each still asserts no order, trade or receipt and the £1000.00
    wallet, which a test that wrongly traded would break for every later one. It saves a
    database, a worker and their start-up per test."""
    task_queue = f"kripto-test-{uuid.uuid4().hex[:8]}"
    async with fresh_database(pg_server_url) as url:
        settings = Settings(
            database_url=url,
            task_queue=task_queue,
            deployment_name=task_queue,
            feed="simulated",
            paper_price="stored",
            paper_spread=Decimal(0),
            data_dir=tmp_path_factory.mktemp("untouched"),
            worker_versioning=False,  # the time-skipping server has no Worker Deployments
        )
        async with trading_stack(time_skipping_env, settings) as trading:
            yield trading
