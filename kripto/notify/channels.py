"""Where notifications go: Telegram chats and webhooks. Each channel has a stable name, the
`channel` column of `sent_notifications`; a webhook's name is a hash of its URL, because the
URL itself is a secret (a Slack or Discord webhook URL is its own credential)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from kripto.errors import NonRetryableError, RetryableError
from kripto.notify.events import Notify
from kripto.notify.telegram import TelegramApi
from kripto.settings.notifications import Style


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def wants(self, event: Notify) -> bool: ...

    async def send(self, event: Notify) -> str:
        """Send; return the receiver's ID for the message ("" if it gives none)."""
        ...


@dataclass(frozen=True)
class TelegramChat:
    api: TelegramApi
    chat_id: int

    @property
    def name(self) -> str:
        return f"telegram:{self.chat_id}"

    def wants(self, event: Notify) -> bool:
        return not event.chat_ids or self.chat_id in event.chat_ids

    async def send(self, event: Notify) -> str:
        return str(await self.api.send_message(self.chat_id, event.message, event.buttons))


class WebhookRefused(NonRetryableError):
    kind = "WebhookRefused"


class WebhookUnavailable(RetryableError):
    pass


def webhook_body(style: Style, event: Notify) -> dict[str, Any]:
    """Slack's incoming webhooks take `{"text"}`, Discord's `{"content"}`; anything else gets
    the event itself."""
    if style == "slack":
        return {"text": event.message}
    if style == "discord":
        return {"content": event.message}
    return {"key": event.key, "kind": event.kind, "title": event.title, "text": event.text}


@dataclass(frozen=True)
class Webhook:
    url: str
    style: Style
    http: httpx.AsyncClient

    @property
    def name(self) -> str:
        return f"webhook:{self.style}:{hashlib.sha256(self.url.encode()).hexdigest()[:12]}"

    def wants(self, event: Notify) -> bool:
        return not event.chat_ids  # a bot's answer is for its chat alone

    async def send(self, event: Notify) -> str:
        try:
            response = await self.http.post(self.url, json=webhook_body(self.style, event))
        except httpx.HTTPError as exc:
            raise WebhookUnavailable(f"{self.name}: {type(exc).__name__}") from None
        status = response.status_code
        if status < 300:
            return ""
        message = f"{self.name}: HTTP {status}"
        if status == 429 or status >= 500:
            after = response.headers.get("retry-after", "")
            raise WebhookUnavailable(message, retry_after=float(after) if after.isdigit() else None)
        raise WebhookRefused(message)
