"""The receipts' stop links that have been used: each works once."""

from __future__ import annotations

import asyncpg

from kripto.db.pool import Database


class StopLinkRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def used(self, link_id: str) -> bool:
        return bool(
            await self.db.pool.fetchval("SELECT 1 FROM used_stop_links WHERE link_id = $1", link_id)
        )

    async def use(self, link_id: str, used_by: str) -> bool:
        """Record the link as used; False if it had been used already."""
        try:
            await self.db.pool.execute(
                "INSERT INTO used_stop_links (link_id, used_by) VALUES ($1, $2)", link_id, used_by
            )
        except asyncpg.UniqueViolationError:
            return False
        return True
