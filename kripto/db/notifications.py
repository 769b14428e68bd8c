"""The notifications sent, one row per event and channel: each is sent at most once."""

from __future__ import annotations

from typing import Any

from kripto.db.pool import Database


class NotificationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def answered(self, event_key: str) -> bool:
        """Whether any channel has a row for the event (the bot's answer to an update)."""
        count = await self.db.pool.fetchval(
            "SELECT count(*) FROM sent_notifications WHERE event_key = $1", event_key
        )
        return bool(count)

    @staticmethod
    async def lock(conn: Any, event_key: str, channel: str) -> None:
        """Hold the event's lock for this channel until the transaction ends."""
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"notify|{event_key}|{channel}",
        )

    @staticmethod
    async def status(conn: Any, event_key: str, channel: str) -> str | None:
        status: str | None = await conn.fetchval(
            "SELECT status FROM sent_notifications WHERE event_key = $1 AND channel = $2",
            event_key,
            channel,
        )
        return status

    @staticmethod
    async def record(
        conn: Any,
        event_key: str,
        channel: str,
        kind: str,
        status: str,
        message_id: str,
        detail: str,
    ) -> None:
        await conn.execute(
            "INSERT INTO sent_notifications (event_key, channel, kind, status, message_id, detail)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            event_key,
            channel,
            kind,
            status,
            message_id,
            detail[:500],
        )
