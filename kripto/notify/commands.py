"""The Telegram bot's language: updates as Kripto reads them, and commands as people type
them. Pure: no I/O, so the bot's workflow and the tests can use it directly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kripto.errors import InvalidInput
from kripto.inputs import parse_trade_request
from kripto.models import TradeRequest, Wire

COMMANDS = ("status", "balance", "trades", "profit", "pause", "resume", "buy", "sell", "help")
HELP = (
    "/status: trading on or paused, the latest rate\n"
    "/balance: the exchange's balances\n"
    "/trades: the latest trades\n"
    "/profit: realised and unrealised profit\n"
    "/pause [reason], /resume: the kill switch\n"
    "/buy AMOUNT, /sell AMOUNT: a trade in GBP, after you confirm it"
)
#: `c:<confirmation ID>` and `x:<confirmation ID>`: an opaque ID of a confirmation Kripto stored
#: (kripto.db.confirmations); nothing of the trade rides in the button.
CONFIRM = re.compile(r"^c:([A-Za-z0-9_-]{16,43})$")
CANCEL = re.compile(r"^x:([A-Za-z0-9_-]{16,43})$")
#: The buttons of earlier builds, which carried the trade itself: refused, as expired.
OLD_CONFIRM = re.compile(r"^t:(buy|sell):([0-9.]{1,12}):([0-9]{1,20})$")


class BotUpdate(Wire):
    """One update from getUpdates: a message, or a button pressed under one."""

    update_id: int
    chat_id: int
    user_id: int = 0
    #: `@username`, else the first name.
    user_name: str = ""
    text: str = ""
    callback_id: str = ""
    callback_data: str = ""

    @property
    def who(self) -> str:
        """Who did it, as the kill switch's note and a trade's memo say it."""
        return f"{self.user_name or 'someone'} (Telegram user {self.user_id}, chat {self.chat_id})"


class BotUpdates(Wire):
    updates: tuple[BotUpdate, ...] = ()
    #: The offset to ask from next: past every update seen, including ones Kripto ignores.
    next_offset: int = 0


class BotPoll(Wire):
    """The bot workflow's input (continue-as-new carries it): where getUpdates resumes."""

    offset: int = 0
    #: Polls before the workflow continues as new (a small history; tests make it small).
    polls_per_run: int = 200


def read_update(raw: dict[str, Any]) -> BotUpdate | None:
    """A Bot API update as Kripto reads it; None for any other kind (edits, channel posts)."""
    update_id = raw.get("update_id")
    if not isinstance(update_id, int):
        return None
    callback = raw.get("callback_query")
    message = raw.get("message")
    if isinstance(callback, dict):
        sender = callback.get("from") or {}
        chat = ((callback.get("message") or {}).get("chat") or {}).get("id")
        extra = {"callback_id": str(callback.get("id", "")), "callback_data": callback.get("data")}
    elif isinstance(message, dict):
        sender = message.get("from") or {}
        chat = (message.get("chat") or {}).get("id")
        extra = {"text": message.get("text")}
    else:
        return None
    if not isinstance(chat, int):
        return None
    username = sender.get("username")
    name = f"@{username}" if isinstance(username, str) and username else sender.get("first_name")
    return BotUpdate(
        update_id=update_id,
        chat_id=chat,
        user_id=sender.get("id") if isinstance(sender.get("id"), int) else 0,
        user_name=str(name or "")[:64],
        **{k: str(v or "")[:512] for k, v in extra.items()},
    )


@dataclass(frozen=True)
class Command:
    name: str
    argument: str = ""


def read_command(text: str) -> Command | None:
    """`/buy@KriptoBot 10.00` → Command("buy", "10.00"); None if it is not a command."""
    if not text.startswith("/"):
        return None
    head, _, rest = text.strip().partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    return Command(name if name in COMMANDS or name == "start" else "?" + name, rest.strip())


def trade_request(side: str, amount: str, product_id: str) -> TradeRequest:
    """The trade a /buy or /sell asks for, checked as every trade request is (kripto.inputs);
    InvalidInput names the field and the rule."""
    if not amount:
        raise InvalidInput(f"amount: missing; write /{side} AMOUNT, such as /{side} 10.00")
    return parse_trade_request([{"tradeType": side, "amount": amount, "productId": product_id}])


def trade_key(update_id: int) -> str:
    """A /buy or /sell's trade key: the update that asked for it, so however many times its
    Confirm button is pressed, it is one trade."""
    return f"telegram-{update_id}"
