"""Notifications over real HTTP on loopback (the fake Bot API and a fake webhook receiver),
recorded in Postgres: each event reaches each channel once, the webhook bodies have Slack's,
Discord's and Kripto's own shapes, and no error says the bot's token or a webhook's URL."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from kripto.db import Database
from kripto.errors import RetryableError
from kripto.notify.channels import webhook_body
from kripto.notify.messages import alert
from kripto.notify.sender import Notifier
from kripto.notify.telegram import TelegramApi, TelegramUnavailable
from kripto.notify.wiring import channels_from_settings
from kripto.settings import Settings, SettingsError, load_settings
from tests.fakes.telegram_server import TOKEN, FakeTelegram, FakeWebhooks

SECRET_PATH = "/hooks/T000SECRET/B000SECRET"


def phone_settings(settings: Settings, telegram: FakeTelegram, hooks: FakeWebhooks) -> Settings:
    urls = (
        f"slack:{hooks.url}{SECRET_PATH}/slack,discord:{hooks.url}{SECRET_PATH}/discord,"
        f"{hooks.url}{SECRET_PATH}/json"
    )
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_api_url": telegram.url,
            "telegram_chat_ids": [1001, 1002],
            "webhook_urls": SecretStr(urls),
        }
    )


async def test_each_channel_gets_each_event_once_in_its_own_shape(
    settings: Settings, db: Database, fake_telegram: FakeTelegram, fake_webhooks: FakeWebhooks
) -> None:
    channels = channels_from_settings(phone_settings(settings, fake_telegram, fake_webhooks))
    try:
        notifier = Notifier(db, channels.channels)
        event = alert("trade-x-waiting", "Trade x is waiting on errors", "HTTP 503 from Coinbase")
        first = await notifier.send(event)
        again = await notifier.send(event)
    finally:
        await channels.close()

    assert len(first.sent) == 5 and first.already == () and first.refused == ()
    assert again.sent == () and sorted(again.already) == sorted(first.sent)
    text = "Trade x is waiting on errors\nHTTP 503 from Coinbase"
    assert [(m.chat_id, m.text) for m in fake_telegram.sent] == [(1001, text), (1002, text)]
    assert fake_webhooks.bodies(f"{SECRET_PATH}/slack") == [{"text": text}]
    assert fake_webhooks.bodies(f"{SECRET_PATH}/discord") == [{"content": text}]
    assert fake_webhooks.bodies(f"{SECRET_PATH}/json") == [
        {
            "key": "alert-trade-x-waiting",
            "kind": "alert",
            "title": "Trade x is waiting on errors",
            "text": "HTTP 503 from Coinbase",
        }
    ]
    rows = await db.pool.fetch(
        "SELECT channel, status FROM sent_notifications WHERE event_key = $1 ORDER BY channel",
        "alert-trade-x-waiting",
    )
    names = [r["channel"] for r in rows]
    assert names[:2] == ["telegram:1001", "telegram:1002"]
    assert {r["status"] for r in rows} == {"sent"} and len(rows) == 5
    assert not any(SECRET_PATH in n or "127.0.0.1" in n for n in names)  # URLs are secrets


async def test_a_refusal_is_final_and_a_5xx_is_retried_alone(
    settings: Settings, db: Database, fake_webhooks: FakeWebhooks
) -> None:
    hooks = f"{fake_webhooks.url}/status/404/gone,slack:{fake_webhooks.url}/status/503/busy"
    channels = channels_from_settings(
        settings.model_copy(update={"webhook_urls": SecretStr(hooks)})
    )
    ok = channels_from_settings(
        settings.model_copy(update={"webhook_urls": SecretStr(f"{fake_webhooks.url}/fine")})
    )
    try:
        event = alert("reconcile-7", "Reconciler: order 7 missing from the books")
        with pytest.raises(RetryableError) as raised:
            await Notifier(db, channels.channels + ok.channels).send(event)
        assert str(raised.value).endswith(": HTTP 503")
        assert "status/503" not in str(raised.value)
        assert len(fake_webhooks.bodies("/fine")) == 1  # the others were still sent
        # The retry: the refused one is not asked again, the 503 one is.
        with pytest.raises(RetryableError):
            await Notifier(db, channels.channels + ok.channels).send(event)
    finally:
        await channels.close()
        await ok.close()
    assert [p for p, _ in fake_webhooks.received] == [
        "/status/404/gone",
        "/status/503/busy",
        "/fine",
        "/status/503/busy",
    ]
    statuses = await db.pool.fetch("SELECT status, detail FROM sent_notifications ORDER BY status")
    assert [r["status"] for r in statuses] == ["refused", "sent"]
    assert statuses[0]["detail"].endswith(": HTTP 404")


async def test_telegram_errors_never_carry_the_token(fake_telegram: FakeTelegram) -> None:
    wrong = TelegramApi(fake_telegram.url, SecretStr("1:WRONGTOKENWRONGTOKEN"))
    down = TelegramApi("http://127.0.0.1:9", SecretStr(TOKEN), timeout=2)
    try:
        with pytest.raises(Exception) as refused:
            await wrong.send_message(1001, "hello")
        with pytest.raises(TelegramUnavailable) as unreachable:
            await down.send_message(1001, "hello")
    finally:
        await wrong.close()
        await down.close()
    assert str(refused.value) == "Telegram sendMessage: HTTP 401: Unauthorized"
    assert str(unreachable.value) == "Telegram sendMessage: ConnectError"
    assert fake_telegram.unauthorized == 1


def test_webhook_settings_errors_never_quote_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRIPTO_WEBHOOK_URLS", "slack:hooks.slack.com/services/SECRET")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == (
        "KRIPTO_WEBHOOK_URLS: entry 1 must be an http(s) URL, optionally after slack:,"
        " discord: or json:"
    )
    monkeypatch.setenv("KRIPTO_WEBHOOK_URLS", "")
    monkeypatch.setenv("KRIPTO_TELEGRAM_CHAT_IDS", "1001, -1002,me")
    with pytest.raises(SettingsError) as bad_chat:
        load_settings()
    assert str(bad_chat.value) == (
        "KRIPTO_TELEGRAM_CHAT_IDS: 'me' is not a chat ID (a whole number, e.g. 123456789)"
    )
    assert webhook_body("discord", alert("k", "t")) == {"content": "t"}
