"""Sends one notification to every channel that wants it, once per channel.

Each channel's send runs in a transaction that holds an advisory lock on (event, channel)
and records the send before committing, so a retry, a second worker or a duplicate start of
the same event finds the row and sends nothing. The one window left: the channel took the
message but the worker died before the row committed (milliseconds between the reply and the
commit); the retry then sends it again. Telegram and webhooks have no idempotency keys of
their own, so no sender can close that window."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kripto.db.notifications import NotificationRepository
from kripto.db.pool import Database
from kripto.errors import NonRetryableError, RetryableError
from kripto.notify.channels import Channel
from kripto.notify.events import Notify, NotifyResult

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, db: Database, channels: Sequence[Channel]) -> None:
        self.db = db
        self.channels = list(channels)

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    async def send(self, event: Notify) -> NotifyResult:
        """Every channel is tried; a channel that may work later (429, 5xx, timeout) raises a
        RetryableError after the others have been tried, so the retry sends only to it."""
        sent: list[str] = []
        already: list[str] = []
        refused: list[str] = []
        failures: list[RetryableError] = []
        for channel in self.channels:
            if not channel.wants(event):
                continue
            try:
                outcome = await self._send_once(event, channel)
            except RetryableError as exc:
                log.warning("notification %s to %s failed: %s", event.key, channel.name, exc)
                failures.append(exc)
                continue
            {"sent": sent, "already": already, "refused": refused}[outcome].append(channel.name)
        if failures:
            delays = [f.retry_after for f in failures if f.retry_after]
            raise RetryableError(
                "; ".join(str(f) for f in failures), retry_after=max(delays) if delays else None
            )
        return NotifyResult(sent=tuple(sent), already=tuple(already), refused=tuple(refused))

    async def _send_once(self, event: Notify, channel: Channel) -> str:
        async with self.db.pool.acquire() as conn, conn.transaction():
            await NotificationRepository.lock(conn, event.key, channel.name)
            done = await NotificationRepository.status(conn, event.key, channel.name)
            if done is not None:
                return "already"
            try:
                message_id = await channel.send(event)
            except NonRetryableError as exc:
                log.warning("notification %s refused by %s: %s", event.key, channel.name, exc)
                await self._record(conn, event, channel, "refused", "", str(exc))
                return "refused"
            await self._record(conn, event, channel, "sent", message_id, "")
            log.info("notification %s (%s) sent to %s", event.key, event.kind, channel.name)
            return "sent"

    @staticmethod
    async def _record(
        conn: object, event: Notify, channel: Channel, status: str, message_id: str, detail: str
    ) -> None:
        await NotificationRepository.record(
            conn, event.key, channel.name, event.kind, status, message_id, detail
        )
