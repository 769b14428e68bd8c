"""Postgres access: one asyncpg pool per process, and a repository per table."""

from kripto.db.pool import Database, connect

__all__ = ["Database", "connect"]
