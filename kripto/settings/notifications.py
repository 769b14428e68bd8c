"""News and control from the phone: see docs/phone.md."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import SecretStr, ValidationInfo, field_validator
from pydantic_settings import NoDecode

from kripto.settings.base import Section


class NotificationsSection(Section):
    """News and control from the phone: see docs/phone.md."""

    #: The bot's token from @BotFather. Unset: no Telegram messages and no bot.
    telegram_bot_token: SecretStr | None = None
    #: The chats that get every notification, and the only chats the bot answers.
    telegram_chat_ids: Annotated[list[int], NoDecode] = []
    #: The Telegram users (numeric IDs) who may use the bot, comma-separated. Anyone else, in
    #: a listed chat or not, gets no reply. Unset: nobody may (the bot answers no one).
    telegram_user_ids: Annotated[list[int], NoDecode] = []
    #: How long a /buy or /sell's Confirm button works.
    telegram_confirm_ttl: timedelta = timedelta(minutes=5)
    telegram_api_url: str = "https://api.telegram.org"
    #: How long one getUpdates long poll waits for a message before asking again.
    telegram_poll_timeout: timedelta = timedelta(seconds=25)
    #: `slack:URL`, `discord:URL` or a bare URL (generic JSON), comma-separated. A secret: a
    #: Slack or Discord webhook's URL is its own credential.
    webhook_urls: SecretStr | None = None
    #: When the daily summary goes out (cron, UTC).
    daily_summary_cron: str = "0 18 * * *"

    @field_validator("telegram_chat_ids", "telegram_user_ids", mode="before")
    @classmethod
    def _split_chat_ids(cls, value: object, info: ValidationInfo) -> object:
        what = "a chat ID" if info.field_name == "telegram_chat_ids" else "a user ID"
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            ids = []
            for part in filter(None, (p.strip() for p in value.split(","))):
                if not re.fullmatch(r"-?\d{1,20}", part):
                    raise ValueError(f"{part!r} is not {what} (a whole number, e.g. 123456789)")
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
