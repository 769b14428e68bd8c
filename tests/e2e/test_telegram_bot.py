"""The Telegram bot, end to end: a worker (in this process) on the Temporal dev server runs
the bot's long-polling workflow against a fake Bot API on loopback; the test plays the user.
Unknown chats and people are refused without a reply, a /buy confirmed twice trades once, a
Confirm carries only an opaque ID, is bound to its asker and expires, a worker without the bot
never ends it for the others, every change names who made it, and the bot's token is in no
history and no log line."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.ids import schedule_id
from kripto.notify.commands import BotPoll
from kripto.notify.events import SummaryDay
from kripto.notify.telegram import TelegramApi
from kripto.runtime.kill_switch import schedule_status
from kripto.runtime.phone import check_token, ensure_phone, summary_schedule_id
from kripto.runtime.schedules import ensure_schedules
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings, SettingsError
from tests.fakes.telegram_server import TOKEN, FakeTelegram
from tests.temporal_fixtures import record_history
from tests.trading_fixtures import store_rate
from workflows.notify import DailySummaryWorkflow
from workflows.telegram_bot import TelegramBotWorkflow, bot_workflow_id

pytestmark = pytest.mark.e2e
ALICE = 1001
MALLORY = 666


async def until(check: Callable[[], bool], fake: FakeTelegram, within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while not check():
            await asyncio.sleep(0.05)


def said(fake: FakeTelegram, chat: int, start: str) -> list[str]:
    return [m.text for m in fake.messages(chat) if m.text.startswith(start)]


async def another_client(client: Client) -> Client:
    """A second connection (one connection runs one worker per task queue and build)."""
    return await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=client.data_converter,
    )


async def history_text(client: Client, workflow_id: str) -> str:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return json.dumps(history.to_json_dict())


async def test_a_conversation_with_the_bot(
    dev_server_env: WorkflowEnvironment,
    settings: Settings,
    db: Database,
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tg = fake_telegram
    client = dev_server_env.client
    settings = settings.model_copy(
        update={
            "schedule_cron": "0 0 1 1 *",  # no tick runs during the test
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_api_url": tg.url,
            "telegram_chat_ids": [ALICE],
            "telegram_user_ids": [ALICE],
            "telegram_poll_timeout": settings.exchange.http_timeout / 10,  # 1 s long polls
        }
    )
    await store_rate(db)
    await ensure_schedules(client, settings)
    services = await build_services(settings)
    try:
        async with running_worker(client, settings, services):
            # The bot continues as new every 3 polls here (of a second each), many times over
            # the conversation; the worker finds it running and leaves it.
            bot = await client.start_workflow(
                TelegramBotWorkflow.run,
                BotPoll(polls_per_run=3),
                id=bot_workflow_id(settings.temporal.task_queue),
                task_queue=settings.temporal.task_queue,
            )
            await ensure_phone(client, settings)

            async def say(text: str, replies: int = 1) -> None:
                before = len(tg.messages(ALICE))
                tg.user_sends(ALICE, text)
                await until(lambda: len(tg.messages(ALICE)) >= before + replies, tg)

            async def press(data: str, label: str, replies: int = 1) -> None:
                before, answered = len(tg.messages(ALICE)), len(tg.answers)
                tg.user_presses(ALICE, data, label)
                await until(
                    lambda: (
                        len(tg.messages(ALICE)) >= before + replies and len(tg.answers) > answered
                    ),
                    tg,
                )

            await say("/status")
            await say("/buy 10.00")
            ask = tg.messages(ALICE)[-1]
            assert ask.text == (
                "BUY £10.00 BTC-GBP?\nPress Confirm to trade, or Cancel (within 5 min; only you"
                " can confirm)."
            )
            (confirm, confirm_data), (cancel, _) = ask.buttons
            assert (confirm, cancel) == ("Confirm", "Cancel")
            # The button carries an opaque ID only: no side, no amount, no key.
            assert re.fullmatch(r"c:[A-Za-z0-9_-]{22}", confirm_data), confirm_data
            # Someone else in the same chat presses Alice's Confirm: no reply, no trade.
            tg.user_presses(ALICE, confirm_data, "Confirm", "mallory", user=MALLORY)
            await press(confirm_data, "Confirm", replies=2)  # the answer, then the trade's news
            await until(lambda: bool(said(tg, ALICE, "Bought")), tg)
            [started] = said(tg, ALICE, "BUY £10.00 BTC-GBP: trade ")
            key = started.split("trade ", 1)[1].split(" ", 1)[0]
            await press(confirm_data, "Confirm")  # pressed again
            await say("/buy 10.001")
            await say("/buy 2000.00")  # above KRIPTO_MAX_TRADE_GBP: the trade refuses it
            too_much = tg.messages(ALICE)[-1].buttons[0][1]
            await press(too_much, "Confirm", replies=2)
            await until(lambda: bool(said(tg, ALICE, "Trade refused")), tg)
            # A Confirm past KRIPTO_CONFIRM_TTL, a cancelled one, and a button in the old
            # form (the trade in its data, as a forger would write it) trade nothing.
            await say("/buy 12.00")
            late = tg.messages(ALICE)[-1].buttons[0][1]
            await db.pool.execute(
                "UPDATE telegram_confirmations SET expires_at = now() - interval '1 second'"
                " WHERE id = $1",
                late.removeprefix("c:"),
            )
            await press(late, "Confirm")
            await say("/sell 13.00")
            (_, withdrawn), (_, cancel_data) = tg.messages(ALICE)[-1].buttons
            await press(cancel_data, "Cancel")
            await press(withdrawn, "Confirm")
            await press("t:buy:10.00:999", "Confirm")
            await say("/pause lunch", replies=2)  # the answer and the kill switch's news
            await say("/status")
            await say("/resume", replies=2)
            await say("/balance")
            await say("/trades")
            await say("/profit")

            # Someone else finds the bot, in a chat of their own or in Alice's: nothing they
            # send is answered or done.
            tg.user_sends(MALLORY, "/pause", username="mallory")
            tg.user_sends(MALLORY, "/buy 10.00", username="mallory")
            tg.user_presses(MALLORY, f"t:buy:10.00:{key}", "Confirm", "mallory")
            tg.user_sends(ALICE, "/pause", username="mallory", user=MALLORY)
            tg.user_sends(ALICE, "/buy 10.00", username="mallory", user=MALLORY)
            await say("/status")  # answered after the updates before it

            today = datetime.now(UTC).date()
            await client.execute_workflow(
                DailySummaryWorkflow.run,
                SummaryDay(day=today),
                id=f"daily-summary-test-{settings.temporal.task_queue}",
                task_queue=settings.temporal.task_queue,
            )
            await until(lambda: bool(said(tg, ALICE, "Kripto daily summary")), tg)

            trade = client.get_workflow_handle(key)
            memo = await (await trade.describe()).memo_value("by")
            histories = "".join(
                [
                    await history_text(client, bot_workflow_id(settings.temporal.task_queue)),
                    await history_text(client, key),
                    await history_text(client, f"notify-trade-{key}"),
                ]
            )
            status = await schedule_status(client, "BTC-GBP", settings.temporal.task_queue)
            current = await client.get_workflow_handle(bot.id).describe()
            await record_history(client, key, "trade-notify-v1")  # the trade, then its news
            await record_history(client, f"notify-trade-{key}", "notify-v1")
            await record_history(
                client, f"daily-summary-test-{settings.temporal.task_queue}", "daily_summary-v1"
            )
            await client.get_workflow_handle(
                bot_workflow_id(settings.temporal.task_queue)
            ).terminate()
    finally:
        await services.close()
        for sid in (
            schedule_id("BTC-GBP", settings.temporal.task_queue),
            summary_schedule_id(settings.temporal.task_queue),
        ):
            await client.get_schedule_handle(sid).delete()

    print("\n" + tg.transcript())
    assert tg.messages(MALLORY) == []
    assert current.run_id != bot.first_execution_run_id  # continued as new, offset carried
    assert [len(said(tg, ALICE, "Status")), len(said(tg, ALICE, "Bought"))] == [3, 1]
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 1
    assert await db.pool.fetchval("SELECT count(*) FROM trades") == 1
    assert said(tg, ALICE, "BUY £10.00 BTC-GBP: trade ") == [
        f"BUY £10.00 BTC-GBP: trade {key} started\n{memo}"
    ]
    assert said(tg, ALICE, "Already confirmed") == [
        f"Already confirmed: trade {key}\nOne /buy or /sell is one trade."
    ]
    [bought] = said(tg, ALICE, "Bought")
    assert bought.startswith("Bought 0.00125952 BTC for £9.95 (BTC-GBP)\nfee £0.05; trade")
    assert said(tg, ALICE, "Not traded\n") == [
        "Not traded\namount: must have at most 2 decimal places (pennies); got '10.001'"
    ]
    [refused_trade] = said(tg, ALICE, "Trade refused")
    assert re.fullmatch(
        r"Trade refused: BUY £2,000\.00 BTC-GBP\nInvalidInput: amount £2,000\.00 is above the"
        r" per-trade maximum of £1,000\.00 \(KRIPTO_MAX_TRADE_GBP\)\ntrade telegram-\d+",
        refused_trade,
    ), refused_trade
    assert said(tg, ALICE, "Not traded: this confirmation expired") == [
        "Not traded: this confirmation expired. Send /buy or /sell again."
    ]
    assert said(tg, ALICE, "Not traded: this trade was cancelled") == [
        "Not traded: this trade was cancelled."
    ]
    assert said(tg, ALICE, "That button has expired") == [
        "That button has expired: nothing traded. Send /buy or /sell again."
    ]
    assert await db.pool.fetchval("SELECT count(*) FROM telegram_confirmations") == 4
    assert memo.startswith("traded from Telegram by @alice (Telegram user 1001, chat 1001) at ")
    [paused_reply] = said(tg, ALICE, "Trading paused\npaused from Telegram by @alice")
    ticks = schedule_id("BTC-GBP", settings.temporal.task_queue)  # the exchange's one tick schedule
    assert paused_reply.endswith(f": lunch\nschedules: {ticks}")
    [paused_news] = said(tg, ALICE, "Kill switch: trading paused\npaused from Telegram by @al")
    assert paused_news.endswith(f": lunch\n1 schedule: {ticks}")
    assert len(said(tg, ALICE, "Trading resumed\nresumed from Telegram by @alice")) == 1
    assert len(said(tg, ALICE, "Kill switch: trading resumed\nresumed from Telegram by")) == 1
    assert not status.paused
    assert status.note.startswith("resumed from Telegram by @alice (Telegram user 1001")
    assert said(tg, ALICE, "Balances") == ["Balances\nGBP: £990.00\nBTC: 0.00125952 BTC"]
    assert len(tg.answers) == 7  # every press by Alice was answered; Mallory's were not
    refused = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("telegram: refused")
    ]
    assert sorted(line.split(" from ", 1)[1] for line in refused) == sorted(
        [f"user {MALLORY} in chat {ALICE} (not in KRIPTO_TELEGRAM_USER_IDS)"] * 3
        + [f"chat {MALLORY} (not in KRIPTO_TELEGRAM_CHAT_IDS)"] * 3
    )
    assert current.status is not None and current.status.name == "RUNNING"
    logs = "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records)
    assert TOKEN not in histories and TOKEN not in logs
    assert TOKEN.split(":")[1] not in histories + logs


async def test_a_bad_bot_token_is_one_clear_line(fake_telegram: FakeTelegram) -> None:
    """`getMe` at start-up: Telegram's 401 is one line naming the setting, not a retry for
    ever; the token itself is in no message."""
    api = TelegramApi(fake_telegram.url, SecretStr("4242424242:AAWrongTokenWrongTokenWrong0"))
    try:
        with pytest.raises(SettingsError) as refused:
            await check_token(api)
    finally:
        await api.close()
    assert str(refused.value) == (
        "KRIPTO_TELEGRAM_BOT_TOKEN: Telegram refused the token (Telegram getMe: HTTP 401:"
        " Unauthorized); copy it again from @BotFather, or unset it to run without the bot"
    )
    good = TelegramApi(fake_telegram.url, SecretStr(TOKEN))
    try:
        assert await check_token(good) == "Telegram bot: @KriptoTestBot (getMe answered)"
    finally:
        await good.close()


async def test_a_worker_without_the_bot_never_ends_it(
    dev_server_env: WorkflowEnvironment,
    settings: Settings,
    db: Database,
    fake_telegram: FakeTelegram,
) -> None:
    """A worker without KRIPTO_TELEGRAM_BOT_TOKEN takes the bot's poll: it hands it back (a
    retryable failure), the bot's workflow keeps running, and a worker with the bot answers."""
    tg = fake_telegram
    client = dev_server_env.client
    with_bot = settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_api_url": tg.url,
            "telegram_chat_ids": [ALICE],
            "telegram_user_ids": [ALICE],
            "telegram_poll_timeout": settings.exchange.http_timeout / 10,
        }
    )
    await store_rate(db)
    bot_id = bot_workflow_id(settings.temporal.task_queue)
    botless_services = await build_services(settings)
    try:
        async with running_worker(client, settings, botless_services):
            bot = await client.start_workflow(
                TelegramBotWorkflow.run,
                BotPoll(polls_per_run=3),
                id=bot_id,
                task_queue=settings.temporal.task_queue,
            )

            async def poll_failed() -> bool:
                pending = (await bot.describe()).raw_description.pending_activities
                return any(p.attempt >= 2 and "BotOff" in str(p.last_failure) for p in pending)

            async with asyncio.timeout(30):
                while not await poll_failed():
                    await asyncio.sleep(0.2)
            described = await bot.describe()
            assert described.status is not None and described.status.name == "RUNNING"
            services = await build_services(with_bot)
            try:
                async with running_worker(await another_client(client), with_bot, services):
                    tg.user_sends(ALICE, "/help")
                    await until(lambda: bool(said(tg, ALICE, "Kripto's commands:")), tg)
            finally:
                await services.close()
            await bot.terminate()
    finally:
        await botless_services.close()
