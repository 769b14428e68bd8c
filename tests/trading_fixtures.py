"""A worker with the whole trading stack (paper or fake-Coinbase exchange, outbox receipts) on
the time-skipping test server, and helpers to count what a trade left behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
from kripto.settings import Settings
from kripto.temporal.worker import Services, build_services, build_worker

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
        return sorted(self.settings.outbox_dir.glob("*.eml"))


async def store_rate(db: Database, price: Decimal = SEED_RATE) -> None:
    await RateRepository(db).insert(
        Rate(rate=price, date_time=datetime(2020, 5, 19, 19, 39, tzinfo=UTC), source="coinbase")
    )


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
