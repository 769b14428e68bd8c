"""The notification channels and the bot's API client, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from kripto.notify.channels import Channel, TelegramChat, Webhook, parse_webhooks
from kripto.notify.telegram import TelegramApi
from kripto.settings import Settings


def notifications_on(settings: Settings) -> bool:
    """Anything to send to: a bot with chats, or a webhook."""
    telegram = settings.notifications.telegram_bot_token is not None and bool(
        settings.notifications.telegram_chat_ids
    )
    return telegram or settings.notifications.webhook_urls is not None


def bot_on(settings: Settings) -> bool:
    return settings.notifications.telegram_bot_token is not None


@dataclass
class Channels:
    channels: list[Channel] = field(default_factory=list)
    telegram: TelegramApi | None = None
    http: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self.telegram is not None:
            await self.telegram.close()
        if self.http is not None:
            await self.http.aclose()


def channels_from_settings(settings: Settings) -> Channels:
    timeout = settings.exchange.http_timeout.total_seconds()
    out = Channels()
    if settings.notifications.telegram_bot_token is not None:
        out.telegram = TelegramApi(
            settings.notifications.telegram_api_url,
            settings.notifications.telegram_bot_token,
            timeout,
        )
        out.channels += [
            TelegramChat(out.telegram, chat) for chat in settings.notifications.telegram_chat_ids
        ]
    if settings.notifications.webhook_urls is not None:
        out.http = httpx.AsyncClient(timeout=timeout)
        out.channels += [
            Webhook(url, style, out.http)
            for style, url in parse_webhooks(settings.notifications.webhook_urls.get_secret_value())
        ]
    return out
