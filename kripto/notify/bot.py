"""The Telegram bot: answers the commands in kripto.notify.commands for the people in
KRIPTO_TELEGRAM_USER_IDS writing in the chats in KRIPTO_TELEGRAM_CHAT_IDS, and nobody else
(anyone else gets no reply at all: a log line says who was refused).

A /buy or /sell is stored by Kripto as a confirmation (kripto.db.confirmations) under an opaque
ID, bound to the person who asked and expiring after KRIPTO_TELEGRAM_CONFIRM_TTL; the Confirm
button carries only that ID, so nothing the trade is made of is read back from a button.

Each update is handled once: its answer is a notification keyed by the update's ID, so a
handled update (retried, or fetched again after a restart) finds its answer sent and does
nothing; a /buy's trade is keyed by the /buy's update, so Confirm pressed twice is one trade.
Every change it makes says who made it, as the dashboard's do: the kill switch's note and
the trade's memo name the Telegram user and chat."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from kripto.db.confirmations import ConfirmationRepository
from kripto.db.pool import Database
from kripto.db.trades import TradeRepository
from kripto.errors import InvalidInput, KriptoError
from kripto.exchanges.base import Exchange
from kripto.models import currencies
from kripto.money import fmt_money, fmt_size, fmt_time_long
from kripto.notify.commands import (
    CANCEL,
    CONFIRM,
    HELP,
    OLD_CONFIRM,
    BotUpdate,
    read_command,
    trade_key,
)
from kripto.notify.commands import trade_request as read_trade
from kripto.notify.events import Notify
from kripto.notify.sender import Notifier
from kripto.notify.telegram import TelegramApi
from kripto.portfolio import position
from kripto.runtime.kill_switch import schedule_status
from kripto.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    title: str
    text: str = ""
    buttons: tuple[tuple[str, str], ...] = ()


def _stamp() -> str:
    """The time in the form the kill switch metric reads back from a pause's note."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TelegramBot:
    def __init__(
        self,
        settings: Settings,
        client: Client,
        db: Database,
        exchange: Exchange,
        notifier: Notifier,
        api: TelegramApi,
    ) -> None:
        self.settings = settings
        self.client = client
        self.db = db
        self.exchange = exchange
        self.notifier = notifier
        self.api = api
        self.confirmations = ConfirmationRepository(db)

    @property
    def product(self) -> str:
        return self.settings.general.products[0]

    async def handle(self, update: BotUpdate) -> str:
        """What it did, in a few words (the activity's result)."""
        if update.chat_id not in self.settings.notifications.telegram_chat_ids:
            log.warning(
                "telegram: refused update %s from chat %s (not in KRIPTO_TELEGRAM_CHAT_IDS)",
                update.update_id,
                update.chat_id,
            )
            return f"refused: chat {update.chat_id} is not in KRIPTO_TELEGRAM_CHAT_IDS"
        if update.user_id not in self.settings.notifications.telegram_user_ids:
            # A listed group's other members (and anyone added later) get no reply at all.
            log.warning(
                "telegram: refused update %s from user %s in chat %s"
                " (not in KRIPTO_TELEGRAM_USER_IDS)",
                update.update_id,
                update.user_id,
                update.chat_id,
            )
            return f"refused: user {update.user_id} is not in KRIPTO_TELEGRAM_USER_IDS"
        key = f"tg-{update.update_id}"
        answered = await self.db.pool.fetchval(
            "SELECT count(*) FROM sent_notifications WHERE event_key = $1", key
        )
        if answered:
            return "answered before"
        if update.callback_data:
            reply = await self._button(update)
        else:
            reply = await self._message(update)
        await self.notifier.send(
            Notify(
                key=key,
                kind="bot",
                title=reply.title,
                text=reply.text,
                chat_ids=(update.chat_id,),
                buttons=reply.buttons,
            )
        )
        if update.callback_id:
            # Stops the button's spinner; best effort (a query over 15 minutes old is refused),
            # and after the answer, so a failure here never retries the button's action.
            try:
                await self.api.answer_callback_query(update.callback_id, reply.title[:190])
            except KriptoError as exc:
                log.info("telegram: callback not answered: %s", exc)
        return reply.title

    async def _message(self, update: BotUpdate) -> Reply:
        command = read_command(update.text)
        if command is None:
            return Reply("Send a command, such as /status.", HELP)
        match command.name:
            case "status":
                return await self._status()
            case "balance":
                return await self._balance()
            case "trades":
                return await self._trades()
            case "profit":
                return await self._profit()
            case "pause" | "resume":
                return await self._switch(update, command.name == "pause", command.argument)
            case "buy" | "sell":
                return await self._ask(update, command.name, command.argument)
            case "help" | "start":
                return Reply("Kripto's commands:", HELP)
        return Reply(f"Unknown command /{command.name.lstrip('?')}.", HELP)

    async def _status(self) -> Reply:
        lines = []
        for product_id in self.settings.general.products:
            status = await schedule_status(
                self.client, product_id, self.settings.temporal.task_queue
            )
            if not status.exists:
                state = "no schedule"
            elif status.paused:
                state = f"paused ({status.note})" if status.note else "paused"
            else:
                state = "trading is on"
            rate = await self.db.pool.fetchrow(
                "SELECT date_time, rate FROM rates WHERE product_id = $1"
                " ORDER BY date_time DESC LIMIT 1",
                product_id,
            )
            quote = currencies(product_id)[1]
            seen = (
                f"; rate {fmt_money(rate['rate'], quote)} at {fmt_time_long(rate['date_time'])}"
                if rate
                else "; no rate yet"
            )
            lines.append(f"{product_id}: {state}{seen}")
        return Reply("Status", "\n".join(lines))

    async def _balance(self) -> Reply:
        try:
            wallet = await self.exchange.wallet()
        except KriptoError as exc:
            return Reply("Balances unavailable", str(exc))
        lines = []
        for currency, balance in wallet.balances().items():
            amount = (
                fmt_money(balance.balance, currency)
                if currency in ("GBP", "EUR", "USD")
                else fmt_size(balance.balance, currency)
            )
            lines.append(
                f"{currency}: {amount}" + (f" ({balance.hold} on hold)" if balance.hold else "")
            )
        return Reply("Balances", "\n".join(lines))

    async def _trades(self) -> Reply:
        orders = await TradeRepository(self.db).recent(5)
        if not orders:
            return Reply("No trades yet.")
        lines = []
        for o in orders:
            base, quote = currencies(o.product_id)
            lines.append(
                f"{o.created_at:%Y-%m-%d %H:%M} {o.side.value.upper()}"
                f" {fmt_size(o.filled_size, base)} for {fmt_money(o.executed_value, quote)}"
                f" (fee {fmt_money(o.fill_fees, quote)}) {o.client_order_id}"
            )
        return Reply("Latest trades", "\n".join(lines))

    async def _profit(self) -> Reply:
        product_id = self.product
        base, quote = currencies(product_id)
        held = position(await TradeRepository(self.db).fills(product_id))
        rate = await self.db.pool.fetchval(
            "SELECT rate FROM rates WHERE product_id = $1 ORDER BY date_time DESC LIMIT 1",
            product_id,
        )
        lines = [
            f"realised {fmt_money(held.realised, quote, signed=True)}",
            f"held {fmt_size(held.btc, base)} costing {fmt_money(held.cost, quote)}",
            f"fees {fmt_money(held.fees, quote)}",
        ]
        if rate is not None:
            lines.insert(
                1,
                f"unrealised {fmt_money(held.unrealised(rate), quote, signed=True)} at"
                f" {fmt_money(rate, quote)}",
            )
        return Reply(f"Profit on {product_id}", "\n".join(lines))

    async def _switch(self, update: BotUpdate, paused: bool, reason: str) -> Reply:
        verb = "paused" if paused else "resumed"
        note = f"{verb} from Telegram by {update.who} at {_stamp()}" + (
            f": {reason}" if reason else ""
        )
        from kripto.runtime.schedules import set_paused  # it imports the workflows

        changed = await set_paused(self.client, self.settings, paused, note)
        return Reply(f"Trading {verb}", f"{note}\nschedules: {', '.join(changed) or 'none'}")

    async def _ask(self, update: BotUpdate, side: str, amount: str) -> Reply:
        try:
            request = read_trade(side, amount, self.product)
        except InvalidInput as exc:
            return Reply("Not traded", str(exc))
        ttl = self.settings.notifications.telegram_confirm_ttl
        cid = await self.confirmations.create(
            user_id=update.user_id,
            chat_id=update.chat_id,
            side=side,
            amount=request.amount,
            product_id=request.product_id,
            asked_update=update.update_id,
            now=datetime.now(UTC),
            ttl=ttl,
        )
        minutes = max(1, int(ttl.total_seconds() // 60))
        return Reply(
            f"{request.summary}?",
            f"Press Confirm to trade, or Cancel (within {minutes} min; only you can confirm).",
            buttons=(("Confirm", f"c:{cid}"), ("Cancel", f"x:{cid}")),
        )

    async def _button(self, update: BotUpdate) -> Reply:
        if (cancel := CANCEL.match(update.callback_data)) is not None:
            found = await self.confirmations.get(cancel.group(1))
            if found is not None and found.user_id == update.user_id:
                await self.confirmations.cancel(found.id, datetime.now(UTC))
            return Reply("Cancelled: nothing traded.")
        confirm = CONFIRM.match(update.callback_data)
        if confirm is None:
            if OLD_CONFIRM.match(update.callback_data):
                return Reply("That button has expired: nothing traded. Send /buy or /sell again.")
            return Reply("That button is not Kripto's.")
        found = await self.confirmations.get(confirm.group(1))
        if found is None:
            return Reply("That button is not Kripto's.")
        if found.user_id != update.user_id:
            log.warning(
                "telegram: refused Confirm %s from user %s: it belongs to user %s",
                found.id,
                update.user_id,
                found.user_id,
            )
            return Reply("Not traded: only the person who asked can confirm this trade.")
        if found.cancelled:
            return Reply("Not traded: this trade was cancelled.")
        if datetime.now(UTC) >= found.expires_at:
            return Reply("Not traded: this confirmation expired. Send /buy or /sell again.")
        try:
            request = read_trade(found.side, str(found.amount), found.product_id)
        except InvalidInput as exc:
            return Reply("Not traded", str(exc))
        key = trade_key(found.asked_update)
        by = f"traded from Telegram by {update.who} at {_stamp()}"
        from kripto.runtime.trades import start_trade_workflow

        try:
            await start_trade_workflow(self.client, self.settings, request, key, by=by)
        except WorkflowAlreadyStartedError:
            return Reply(f"Already confirmed: trade {key}", "One /buy or /sell is one trade.")
        return Reply(f"{request.summary}: trade {key} started", by)
