"""The receipts: one row per trade, `sending` until the mail provider took it, then `sent`."""

from __future__ import annotations

from typing import Any

from kripto.db.pool import Database


class ReceiptRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self, trade_id: str, recipient: str) -> None:
        """The trade's row, if it has none yet."""
        await self.db.pool.execute(
            "INSERT INTO receipts (trade_id, status, recipient, attempts)"
            " VALUES ($1, 'sending', $2, 0) ON CONFLICT (trade_id) DO NOTHING",
            trade_id,
            recipient,
        )

    @staticmethod
    async def lock(conn: Any, trade_id: str) -> tuple[str, str | None]:
        """Lock the trade's row for the send (an overlapping attempt waits, then finds
        `sent`); its status and message ID."""
        row = await conn.fetchrow(
            "SELECT status, message_id FROM receipts WHERE trade_id = $1 FOR UPDATE", trade_id
        )
        return row["status"], row["message_id"]

    @staticmethod
    async def count_attempt(conn: Any, trade_id: str, recipient: str) -> None:
        """`attempts` counts calls to the mail provider, so it is exact under overlap."""
        await conn.execute(
            "UPDATE receipts SET attempts = attempts + 1, recipient = $2 WHERE trade_id = $1",
            trade_id,
            recipient,
        )

    @staticmethod
    async def mark_sent(conn: Any, trade_id: str, message_id: str) -> None:
        await conn.execute(
            "UPDATE receipts SET status = 'sent', message_id = $2, sent_at = now()"
            " WHERE trade_id = $1",
            trade_id,
            message_id,
        )
