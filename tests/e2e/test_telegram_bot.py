"""The Telegram bot, end to end: a worker (in this process) on the Temporal dev server runs
the bot's long-polling workflow against a fake Bot API on loopback; the test plays the user.
Unknown chats are refused, a /buy confirmed twice trades once, every change names who made
it, and the bot's token is in no history and no log line."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.ids import schedule_id
from kripto.notify.commands import BotPoll, trade_key
from kripto.notify.events import SummaryDay
from kripto.runtime.kill_switch import schedule_status
from kripto.runtime.phone import ensure_phone, summary_schedule_id
from kripto.runtime.schedules import ensure_schedules
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
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
            assert ask.text == "BUY £10.00 BTC-GBP?\nPress Confirm to trade, or Cancel."
            (confirm, confirm_data), (cancel, _) = ask.buttons
            assert (confirm, cancel) == ("Confirm", "Cancel")
            buy_update = int(confirm_data.rsplit(":", 1)[1])
            key = trade_key(buy_update)
            await press(confirm_data, "Confirm", replies=2)  # the answer, then the trade's news
            await until(lambda: bool(said(tg, ALICE, "Bought")), tg)
            await press(confirm_data, "Confirm")  # pressed again
            await say("/buy 10.001")
            await say("/buy 2000.00")  # above KRIPTO_MAX_TRADE_GBP: the trade refuses it
            too_much = tg.messages(ALICE)[-1].buttons[0][1]
            await press(too_much, "Confirm", replies=2)
            await until(lambda: bool(said(tg, ALICE, "Trade refused")), tg)
            await say("/pause lunch", replies=2)  # the answer and the kill switch's news
            await say("/status")
            await say("/resume", replies=2)
            await say("/balance")
            await say("/trades")
            await say("/profit")

            # Someone else finds the bot: nothing they send is answered or done.
            tg.user_sends(MALLORY, "/pause", username="mallory")
            tg.user_sends(MALLORY, "/buy 10.00", username="mallory")
            tg.user_presses(MALLORY, f"t:buy:10.00:{buy_update + 100}", "Confirm", "mallory")
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
    assert said(tg, ALICE, "Not traded") == [
        "Not traded\namount: must have at most 2 decimal places (pennies); got '10.001'"
    ]
    assert said(tg, ALICE, "Trade refused") == [
        "Trade refused: BUY £2,000.00 BTC-GBP\nInvalidInput: amount £2,000.00 is above the"
        " per-trade maximum of £1,000.00 (KRIPTO_MAX_TRADE_GBP)\ntrade"
        f" {trade_key(int(too_much.rsplit(':', 1)[1]))}"
    ]
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
    assert len(tg.answers) == 3  # every press of Confirm was answered
    refused = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("telegram: refused")
    ]
    assert [line.split(" from ")[1] for line in refused] == [
        "chat 666 (not in KRIPTO_TELEGRAM_CHAT_IDS)"
    ] * 3
    logs = "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records)
    assert TOKEN not in histories and TOKEN not in logs
    assert TOKEN.split(":")[1] not in histories + logs
