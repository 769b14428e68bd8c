"""The Telegram bot's pending confirmations (migration 0025): a /buy or /sell stored under an
opaque ID, bound to the person who asked, until it expires."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from kripto.db.pool import Database


@dataclass(frozen=True)
class Confirmation:
    id: str
    user_id: int
    chat_id: int
    side: str
    amount: Decimal
    product_id: str
    asked_update: int
    expires_at: datetime
    cancelled: bool


class ConfirmationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        *,
        user_id: int,
        chat_id: int,
        side: str,
        amount: Decimal,
        product_id: str,
        asked_update: int,
        now: datetime,
        ttl: timedelta,
    ) -> str:
        """The new confirmation's opaque ID (22 URL-safe characters). Expired rows go too."""
        cid = secrets.token_urlsafe(16)
        async with self.db.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM telegram_confirmations WHERE expires_at < $1", now - timedelta(days=1)
            )
            await conn.execute(
                "INSERT INTO telegram_confirmations (id, user_id, chat_id, side, amount,"
                " product_id, asked_update, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                cid,
                user_id,
                chat_id,
                side,
                amount,
                product_id,
                asked_update,
                now + ttl,
            )
        return cid

    async def get(self, cid: str) -> Confirmation | None:
        row = await self.db.pool.fetchrow(
            "SELECT id, user_id, chat_id, side, amount, product_id, asked_update, expires_at,"
            " cancelled_at IS NOT NULL AS cancelled FROM telegram_confirmations WHERE id = $1",
            cid,
        )
        return Confirmation(**dict(row)) if row else None

    async def cancel(self, cid: str, now: datetime) -> None:
        await self.db.pool.execute(
            "UPDATE telegram_confirmations SET cancelled_at = $2 WHERE id = $1"
            " AND cancelled_at IS NULL",
            cid,
            now,
        )
