"""The connection pool. Money columns are `numeric`; asyncpg hands them back as Decimal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from kripto.db.migrations import migrate


class Database:
    """A thin owner of an asyncpg pool, handed to repositories and activities at start-up."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self.pool = pool
        self.url = url

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def advisory_lock(self, name: str, wait: float = 20.0) -> AsyncIterator[None]:
        """Hold a Postgres advisory lock named `name` across processes, waiting at most `wait`
        seconds for it (then asyncpg raises LockNotAvailableError, and the caller retries).

        The lock lives on a connection of its own, outside the pool: a holder's queries and the
        waiters never compete for pool connections, so waiters cannot starve the holder. A
        worker that dies mid-way releases the lock with its connection."""
        conn = await asyncpg.connect(self.url, timeout=10)
        try:
            await conn.execute(f"SET lock_timeout = '{int(wait * 1000)}ms'")
            await conn.execute("SELECT pg_advisory_lock(hashtext($1))", name)
            yield
        finally:
            try:
                await conn.close(timeout=5)  # ending the session releases its advisory locks
            except BaseException:
                conn.terminate()
                raise


async def connect(url: str, *, run_migrations: bool = True, max_size: int = 10) -> Database:
    """Open a pool. `min_size=0` lets a worker start, and keep running, while Postgres is down:
    connections are made when an activity needs one, and a failed connect is a retryable error."""
    if run_migrations:
        await migrate(url)
    pool = await asyncpg.create_pool(
        url, min_size=0, max_size=max_size, timeout=10, command_timeout=30
    )
    return Database(pool, url)
