"""The connection pool. Money columns are `numeric`; asyncpg hands them back as Decimal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from kripto.db.migrations import migrate


class Database:
    """A thin owner of an asyncpg pool, handed to repositories and activities at start-up."""

    def __init__(self, pool: asyncpg.Pool, url: str, lock_pool_size: int = 10) -> None:
        self.pool = pool
        self.url = url
        self.lock_pool_size = lock_pool_size
        self._locks: asyncpg.Pool | None = None
        self._locks_opening: asyncio.Lock | None = None

    async def close(self) -> None:
        if self._locks is not None:
            await self._locks.close()
        await self.pool.close()

    async def _lock_pool(self) -> asyncpg.Pool:
        """A second, small pool only for lock holders: a holder's queries run on the main pool,
        so waiters queued on locks can never take the connections the holder needs (they
        would starve it until their lock timeout)."""
        if self._locks is None:
            if self._locks_opening is None:
                self._locks_opening = asyncio.Lock()
            async with self._locks_opening:
                if self._locks is None:
                    self._locks = await asyncpg.create_pool(
                        self.url, min_size=0, max_size=self.lock_pool_size, timeout=10
                    )
        return self._locks

    @asynccontextmanager
    async def advisory_lock(self, name: str, wait: float = 20.0) -> AsyncIterator[None]:
        """Hold a Postgres advisory lock named `name` across processes, waiting at most `wait`
        seconds for it (then asyncpg raises LockNotAvailableError, and the caller retries).

        The lock is transaction-scoped (pg_advisory_xact_lock) on a pooled connection of the
        lock pool, with SET LOCAL lock_timeout: it ends with the transaction however the block
        ends (commit, rollback, a cancelled activity resetting the connection, or a worker that
        dies and drops it), and taking it costs a round trip instead of a new connection (a
        fresh connection per decision cost ~10 ms)."""
        locks = await self._lock_pool()
        async with locks.acquire(timeout=wait) as conn, conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'")
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)
            yield


async def connect(url: str, *, run_migrations: bool = True, max_size: int = 10) -> Database:
    """Open a pool. `min_size=0` lets a worker start, and keep running, while Postgres is down:
    connections are made when an activity needs one, and a failed connect is a retryable error."""
    if run_migrations:
        await migrate(url)
    pool = await asyncpg.create_pool(
        url, min_size=0, max_size=max_size, timeout=10, command_timeout=30
    )
    return Database(pool, url)


async def ensure_database(server_url: str, name: str = "kripto") -> str:
    """Create the database `name` on the server if it lacks it; its URL."""
    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.replace("/postgres?", f"/{name}?", 1)
