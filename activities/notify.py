"""Notifications and the Telegram bot: thin methods over kripto.notify's services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from temporalio import activity

from activities.errors import temporal_errors
from kripto.errors import RetryableError
from kripto.notify.commands import BotPoll, BotUpdate, BotUpdates, read_update
from kripto.notify.events import BotHandled, Notify, NotifyResult, SummaryDay
from kripto.notify.sender import Notifier
from kripto.notify.summary import DailySummary
from kripto.notify.telegram import TelegramApi


class UpdateHandler(Protocol):
    """What answers one Telegram update: the bot (kripto.notify.bot.TelegramBot, a face the
    worker hands in); returns what it did, for the workflow's history."""

    async def handle(self, update: BotUpdate) -> str: ...


#: How often a running notification or poll tells Temporal it is alive: a worker that dies
#: mid-send is noticed within the heartbeat timeout, and another worker retries the rest.
HEARTBEAT_EVERY = 1.0


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


class BotOff(RetryableError):
    """This worker has no bot (no KRIPTO_TELEGRAM_BOT_TOKEN): retried, so a worker with the
    bot's settings takes the poll, and the bot's workflow never ends for the others."""


class NotifyActivities:
    def __init__(
        self,
        notifier: Notifier,
        summary: DailySummary,
        bot: UpdateHandler | None,
        telegram: TelegramApi | None,
        poll_seconds: int,
    ) -> None:
        self.notifier = notifier
        self.summary = summary
        self.bot = bot
        self.telegram = telegram
        self.poll_seconds = poll_seconds

    @activity.defn
    async def send_notification(self, event: Notify) -> NotifyResult:
        with temporal_errors():
            async with heartbeating():
                return await self.notifier.send(event)

    @activity.defn
    async def send_daily_summary(self, day: SummaryDay) -> NotifyResult:
        with temporal_errors():
            async with heartbeating():
                sent: list[str] = []
                for event in await self.summary.build(day.day):
                    sent += (await self.notifier.send(event)).sent
                return NotifyResult(sent=tuple(sent))

    @activity.defn
    async def poll_updates(self, poll: BotPoll) -> BotUpdates:
        with temporal_errors():
            if self.telegram is None:
                raise BotOff(
                    "the Telegram bot is off on this worker (no KRIPTO_TELEGRAM_BOT_TOKEN):"
                    " another worker will take it",
                    retry_after=1.0,
                )
            async with heartbeating():
                raw = await self.telegram.get_updates(poll.offset, self.poll_seconds)
            ids = [u["update_id"] for u in raw if isinstance(u.get("update_id"), int)]
            updates = tuple(u for u in map(read_update, raw) if u is not None)
            return BotUpdates(updates=updates, next_offset=max(ids, default=poll.offset - 1) + 1)

    @activity.defn
    async def handle_update(self, update: BotUpdate) -> BotHandled:
        with temporal_errors():
            if self.bot is None:
                raise BotOff(
                    "the Telegram bot is off on this worker (no KRIPTO_TELEGRAM_BOT_TOKEN):"
                    " another worker will take it",
                    retry_after=1.0,
                )
            async with heartbeating():
                return BotHandled(update_id=update.update_id, did=await self.bot.handle(update))
