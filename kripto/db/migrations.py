"""Ordered SQL migrations (`migrations/NNNN_name.sql`), applied under an advisory lock so
that two workers starting at once apply each file exactly once."""

from __future__ import annotations

from importlib.resources import files

import asyncpg

#: Any fixed 64-bit number; every Kripto process takes the same lock.
MIGRATION_LOCK_ID = 0x6B7269707430


def migration_files() -> list[tuple[str, str]]:
    folder = files("kripto.db") / "migrations"
    entries = sorted(
        (entry.name, entry.read_text()) for entry in folder.iterdir() if entry.name.endswith(".sql")
    )
    return [(name.removesuffix(".sql"), sql) for name, sql in entries]


async def migrate(url: str) -> list[str]:
    """Apply what is missing; returns the versions applied by this call."""
    conn = await asyncpg.connect(url, timeout=10)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in migration_files():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version
                    )
                applied.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    finally:
        await conn.close()
    return applied
