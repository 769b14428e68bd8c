"""The Telegram Bot API over httpx: the few methods Kripto uses.

The token is part of every request's URL (`/bot<token>/<method>`), so no error raised here
quotes a URL, an httpx exception's text, or a request: only the method, the status and
Telegram's own description."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
from pydantic import SecretStr

from kripto.errors import NonRetryableError, RetryableError

#: A Bot API URL's token: `/bot<digits>:<secret>/`.
_TOKEN_IN_URL = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")


class _RedactToken(logging.Filter):
    """httpx logs each request's URL at INFO, and a Bot API URL holds the token: hide it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_URL.sub("/bot<token>", str(a)) if "/bot" in str(a) else a
                for a in record.args
            )
        record.msg = _TOKEN_IN_URL.sub("/bot<token>", str(record.msg))
        return True


def hide_tokens_from_httpx_logs() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactToken) for f in httpx_log.filters):
        httpx_log.addFilter(_RedactToken())


class TelegramRefused(NonRetryableError):
    """Telegram answered 4xx (not 429): a bad token, an unknown chat, a bot the user blocked."""

    kind = "TelegramRefused"


class TelegramUnavailable(RetryableError):
    """A 429, a 5xx, a timeout or a dropped connection: the same request may pass later."""


class TelegramApi:
    def __init__(self, base_url: str, token: SecretStr, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._http = httpx.AsyncClient(timeout=timeout)
        hide_tokens_from_httpx_logs()

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, payload: dict[str, Any], wait: float = 0.0) -> Any:
        """`wait`: how much longer than usual the reply may take (a long poll's timeout)."""
        url = f"{self._base}/bot{self._token.get_secret_value()}/{method}"
        try:
            response = await self._http.post(url, json=payload, timeout=self._timeout + wait)
        except httpx.HTTPError as exc:
            # str(exc) may carry the URL, and with it the token: name the kind of failure only.
            raise TelegramUnavailable(f"Telegram {method}: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code == 200 and body.get("ok") is True:
            return body.get("result")
        description = str(body.get("description") or response.reason_phrase)[:200]
        message = f"Telegram {method}: HTTP {response.status_code}: {description}"
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = (body.get("parameters") or {}).get("retry_after")
            delay = float(retry_after) if isinstance(retry_after, int | float) else None
            raise TelegramUnavailable(message, retry_after=delay)
        raise TelegramRefused(message)

    async def get_me(self) -> dict[str, Any]:
        """The bot itself (`id`, `username`): the cheapest call that proves the token."""
        result = await self.call("getMe", {})
        return result if isinstance(result, dict) else {}

    async def send_message(
        self, chat_id: int, text: str, buttons: tuple[tuple[str, str], ...] = ()
    ) -> int:
        """The message's ID in the chat."""
        payload: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if buttons:
            payload["reply_markup"] = {
                "inline_keyboard": [[{"text": t, "callback_data": d} for t, d in buttons]]
            }
        result = await self.call("sendMessage", payload)
        return int(result.get("message_id", 0)) if isinstance(result, dict) else 0

    async def answer_callback_query(self, callback_query_id: str, text: str) -> None:
        await self.call(
            "answerCallbackQuery", {"callback_query_id": callback_query_id, "text": text}
        )

    async def get_updates(self, offset: int, seconds: int) -> list[dict[str, Any]]:
        """Long polling: waits up to `seconds` for updates from `offset` on; asking
        with an offset confirms (and makes Telegram forget) every update before it."""
        result = await self.call(
            "getUpdates",
            {
                "offset": offset,
                "timeout": seconds,
                "allowed_updates": ["message", "callback_query"],
            },
            wait=seconds,
        )
        return [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []
