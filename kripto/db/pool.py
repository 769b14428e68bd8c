"""The connection pool. Money columns are `numeric`; asyncpg hands them back as Decimal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from kripto.db.migrations import migrate


class Database:
    """A thin owner of an asyncpg pool, handed to repositories and activities at start-up."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def advisory_lock(self, name: str) -> AsyncIterator[None]:
        """Hold a Postgres advisory lock named `name` across processes. It is tied to one
        connection, so a worker that dies mid-way releases it with its connection."""
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(hashtext($1))", name)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", name)


async def connect(url: str, *, run_migrations: bool = True, max_size: int = 10) -> Database:
    """Open a pool. `min_size=0` lets a worker start, and keep running, while Postgres is down:
    connections are made when an activity needs one, and a failed connect is a retryable error."""
    if run_migrations:
        await migrate(url)
    pool = await asyncpg.create_pool(
        url, min_size=0, max_size=max_size, timeout=10, command_timeout=30
    )
    return Database(pool)
