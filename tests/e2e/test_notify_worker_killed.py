"""A notification's worker killed with SIGKILL part-way through its channels, and a new
worker: every channel still gets the message exactly once. Real processes: the dev server and
two workers (`kripto worker`); the fake Bot API and the webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.notify.messages import alert
from kripto.runtime.notify import notify
from kripto.runtime.phone import summary_schedule_id
from kripto.settings import Settings
from tests.e2e.workers import activity_runs, start_worker, wait_polling, worker_env
from tests.fakes.telegram_server import TOKEN, FakeTelegram, FakeWebhooks
from workflows.notify import NotifyWorkflow
from workflows.telegram_bot import bot_workflow_id

pytestmark = pytest.mark.e2e


async def test_sigkill_mid_notification_sends_each_message_once(
    dev_server_env: WorkflowEnvironment,
    settings: Settings,
    database_url: str,
    db: Database,
    task_queue: str,
    fake_telegram: FakeTelegram,
    fake_webhooks: FakeWebhooks,
    tmp_path: Path,
) -> None:
    client = dev_server_env.client
    tg = fake_telegram
    hook = f"slack:{fake_webhooks.url}/hooks/slack"
    env = worker_env(
        client.service_client.config.target_host,
        KRIPTO_DATABASE_URL=database_url,
        KRIPTO_TASK_QUEUE=task_queue,
        KRIPTO_DEPLOYMENT_NAME=task_queue,
        KRIPTO_FEED="simulated",
        KRIPTO_DATA_DIR=str(tmp_path),
        KRIPTO_TELEGRAM_BOT_TOKEN=TOKEN,
        KRIPTO_TELEGRAM_API_URL=tg.url,
        KRIPTO_TELEGRAM_CHAT_IDS="1001,1002",
        KRIPTO_TELEGRAM_POLL_TIMEOUT="1s",
        KRIPTO_WEBHOOK_URLS=hook,
    )
    settings = settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_chat_ids": [1001, 1002],
            "webhook_urls": SecretStr(hook),
        }
    )
    # Chat 1002's message stalls in the Bot API until the worker sending it is dead.
    tg.hold(1002)
    first = start_worker("first", env, tmp_path)
    second = None
    event = alert("trade-t1-waiting", "Trade t1 is waiting on errors", "HTTP 503 from Coinbase")
    try:
        await wait_polling([first])
        assert await notify(client, settings, event)
        async with asyncio.timeout(30):
            while not (tg.waiting == [1002] and len(tg.messages(1001)) == 1):
                await asyncio.sleep(0.05)
        # The next worker is up before the first dies: it takes the retry at once.
        second = start_worker("second", env, tmp_path)
        await wait_polling([second])
        first.signal(signal.SIGKILL)
        await first.exit_code(within=10)
        tg.release()
        async with asyncio.timeout(10):
            while tg.dropped != [1002]:  # it hung up before Telegram took the message
                await asyncio.sleep(0.05)
        handle = client.get_workflow_handle_for(NotifyWorkflow.run, event.workflow_id)
        result = await asyncio.wait_for(handle.result(), timeout=60)
        runs = await activity_runs(client, event.workflow_id)
        history = json.dumps((await handle.fetch_history()).to_json_dict())
        await client.get_workflow_handle(bot_workflow_id(task_queue)).terminate()
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
        await client.get_schedule_handle(summary_schedule_id(task_queue)).delete()

    text = "Trade t1 is waiting on errors\nHTTP 503 from Coinbase"
    assert [(m.chat_id, m.text) for m in tg.sent] == [(1001, text), (1002, text)]
    assert fake_webhooks.bodies("/hooks/slack") == [{"text": text}]
    assert result.already == ("telegram:1001",)  # sent before the kill, not again
    assert result.sent[0] == "telegram:1002" and result.sent[1].startswith("webhook:slack:")
    rows = await db.pool.fetch("SELECT channel, status FROM sent_notifications")
    assert sorted(r["channel"] for r in rows)[:2] == ["telegram:1001", "telegram:1002"]
    assert [r["status"] for r in rows] == ["sent"] * 3
    [run] = [r for r in runs if r.activity == "send_notification"]
    assert (run.attempt, run.last_failure) == (2, "HEARTBEAT timeout")
    # The token and the webhook's URL are secrets: in no history and no worker log line.
    logs = first.output() + second.output()
    assert "notification alert-trade-t1-waiting (alert) sent to telegram:1002" in logs
    for secret in (TOKEN, TOKEN.split(":")[1], "/hooks/slack"):
        assert secret not in history
        assert secret not in logs
