"""News and control from the phone: see docs/phone.md."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import SecretStr, field_validator
from pydantic_settings import NoDecode

from kripto.settings.base import Section


class NotificationsSection(Section):
    """News and control from the phone: see docs/phone.md."""

    #: The bot's token from @BotFather. Unset: no Telegram messages and no bot.
    telegram_bot_token: SecretStr | None = None
    #: The chats that get every notification, and the only chats the bot answers.
    telegram_chat_ids: Annotated[list[int], NoDecode] = []
    telegram_api_url: str = "https://api.telegram.org"
    #: How long one getUpdates long poll waits for a message before asking again.
    telegram_poll_timeout: timedelta = timedelta(seconds=25)
    #: `slack:URL`, `discord:URL` or a bare URL (generic JSON), comma-separated. A secret: a
    #: Slack or Discord webhook's URL is its own credential.
    webhook_urls: SecretStr | None = None
    #: When the daily summary goes out (cron, UTC).
    daily_summary_cron: str = "0 18 * * *"

    @field_validator("telegram_chat_ids", mode="before")
    @classmethod
    def _split_chat_ids(cls, value: object) -> object:
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            ids = []
            for part in filter(None, (p.strip() for p in value.split(","))):
                if not re.fullmatch(r"-?\d{1,20}", part):
                    raise ValueError(f"{part!r} is not a chat ID (a whole number, e.g. 123456789)")
                ids.append(int(part))
            return ids
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _check_webhooks(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from kripto.notify.channels import parse_webhooks

            parse_webhooks(value.get_secret_value())  # its errors never quote the URL
        return value
