"""A notification: what happened, said once for people, under a key that names the event.

The key is the idempotency key: one event is sent at most once to each channel however often
its activity is retried, its workflow is started, or its worker dies (the `sent_notifications`
table, kripto/notify/sender.py). Derive it from the event (`trade-<trade ID>`, the reconciler's
difference ID, the Telegram update's ID), never from a clock or a random number."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import field_validator

from kripto.models import Wire

NotifyKind = Literal[
    "trade",  # a trade settled
    "refused",  # a trade refused (bad input, or the exchange said no)
    "protection",  # a stop-loss, trailing stop or drawdown guard fired
    "alert",  # a trade waiting on errors, a reconciler difference
    "kill_switch",  # trading paused or resumed
    "summary",  # the daily summary
    "bot",  # the Telegram bot's answer to a command
]
KEY = re.compile(r"^[A-Za-z0-9._:@=+-]{1,200}$")
#: Telegram takes at most 4096 characters a message; Discord 2000.
TEXT_LIMIT = 1900


class Notify(Wire):
    key: str
    kind: NotifyKind
    #: One line, shown first (and as the title where a channel has one).
    title: str
    text: str = ""
    #: Only these Telegram chats (the bot's answer goes to the chat that asked); empty: every
    #: configured chat and every webhook.
    chat_ids: tuple[int, ...] = ()
    #: Telegram inline buttons under the message: (label, callback data) pairs, one row.
    buttons: tuple[tuple[str, str], ...] = ()

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not KEY.match(value):
            raise ValueError("must be 1 to 200 letters, digits or ._:@=+- (derived from the event)")
        return value

    @property
    def message(self) -> str:
        body = f"{self.title}\n{self.text}" if self.text else self.title
        return body if len(body) <= TEXT_LIMIT else body[: TEXT_LIMIT - 1] + "…"

    @property
    def workflow_id(self) -> str:
        return f"notify-{self.key}"


class NotifyResult(Wire):
    sent: tuple[str, ...] = ()
    #: Sent (or refused) before: by an earlier attempt, worker or start.
    already: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


class SummaryDay(Wire):
    day: date


class BotHandled(Wire):
    update_id: int
    did: str
