"""The bot's language and the notifications' words: pure functions, read exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from kripto.errors import InvalidInput
from kripto.models import Order, Side, TradeRequest
from kripto.notify.commands import Command, read_command, read_update, trade_key, trade_request
from kripto.notify.events import Notify
from kripto.notify.messages import daily_summary, trade_done, trade_refused
from kripto.portfolio import Fill, position


def test_updates_are_read_as_messages_or_button_presses_and_nothing_else() -> None:
    message = {
        "update_id": 7,
        "message": {
            "from": {"id": 42, "username": "alice", "first_name": "Alice"},
            "chat": {"id": 1001},
            "text": "/buy 10.00",
        },
    }
    press = {
        "update_id": 8,
        "callback_query": {
            "id": "cb8",
            "from": {"id": 42, "first_name": "Alice"},
            "message": {"chat": {"id": 1001}},
            "data": "t:buy:10.00:7",
        },
    }
    read = read_update(message)
    assert read is not None and (read.update_id, read.chat_id, read.text) == (7, 1001, "/buy 10.00")
    assert read.who == "@alice (Telegram user 42, chat 1001)"
    pressed = read_update(press)
    assert pressed is not None
    assert (pressed.callback_id, pressed.callback_data, pressed.user_name) == (
        "cb8",
        "t:buy:10.00:7",
        "Alice",
    )
    assert read_update({"update_id": 9, "edited_message": {}}) is None
    assert read_update({"message": {"chat": {"id": 1}}}) is None


def test_commands() -> None:
    assert read_command("/buy@KriptoBot 10.00") == Command("buy", "10.00")
    assert read_command("/PAUSE going out") == Command("pause", "going out")
    assert read_command("/sudo rm") == Command("?sudo", "rm")
    assert read_command("hello") is None


def test_a_trade_from_the_phone_is_checked_like_every_trade_request() -> None:
    assert trade_request("buy", "10.00", "BTC-GBP") == TradeRequest(
        trade_type=Side.BUY, amount=Decimal("10.00")
    )
    with pytest.raises(InvalidInput) as missing:
        trade_request("sell", "", "BTC-GBP")
    assert str(missing.value) == "amount: missing; write /sell AMOUNT, such as /sell 10.00"
    with pytest.raises(InvalidInput) as bad:
        trade_request("buy", "1e3", "BTC-GBP")
    assert str(bad.value) == "amount: must be written out in full, not as \"1e3\"; got '1e3'"
    assert trade_key(7) == "telegram-7"


def test_an_event_key_is_named_from_the_event() -> None:
    with pytest.raises(ValidationError, match="must be 1 to 200 letters, digits or"):
        Notify(key="has space", kind="alert", title="x")


ORDER = Order(
    id="o-1",
    side=Side.BUY,
    product_id="BTC-GBP",
    funds=Decimal("10.00"),
    settled=True,
    created_at=datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
    fill_fees=Decimal("0.05"),
    filled_size=Decimal("0.00125952"),
    executed_value=Decimal("9.95"),
    client_order_id="k-1",
)


def test_the_words_of_each_notification() -> None:
    done = trade_done("k-1", ORDER)
    assert (done.key, done.message) == (
        "trade-k-1",
        "Bought 0.00125952 BTC for £9.95 (BTC-GBP)\nfee £0.05; trade k-1, order o-1",
    )
    refused = trade_refused("k-2", TradeRequest(trade_type=Side.SELL, amount=Decimal(5)), "no BTC")
    assert (refused.key, refused.message) == (
        "refused-k-2",
        "Trade refused: SELL £5.00 BTC-GBP\nno BTC\ntrade k-2",
    )
    held = position(
        [Fill(ORDER.created_at, Side.BUY, ORDER.filled_size, Decimal("9.95"), Decimal("0.05"))]
    )
    summary = daily_summary(date(2026, 12, 6), "BTC-GBP", [ORDER], held, Decimal("8000"), False)
    assert summary.key == "summary-BTC-GBP-2026-12-06"
    assert summary.message == (
        "Kripto daily summary 2026-12-06 (BTC-GBP)\n"
        "1 trade: bought £9.95, sold £0.00, fees £0.05\n"
        "held 0.00125952 BTC; realised £0.00, unrealised +£0.08 at £8,000.00\n"
        "trading is on"
    )
