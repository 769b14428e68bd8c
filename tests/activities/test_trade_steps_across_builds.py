"""The steps after placing, given the input the first build recorded for them (`{"tradeId"}`
only, no order ID): a trade in flight across that deploy must finish, not retry for ever."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment

from activities.trading import TradeActivities, TradeLimits
from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.exchanges.paper import PaperExchange
from kripto.flows.trade import PlacedOrder
from kripto.mail.outbox import OutboxMailer
from kripto.mail.receipt import mode_label
from kripto.models import Rate, Side
from kripto.receipts import ReceiptService


async def test_write_trade_and_send_receipt_accept_the_first_builds_input(
    db: Database, tmp_path: Path
) -> None:
    at = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    await RateRepository(db).insert(Rate(rate=Decimal("7900.01"), date_time=at, source="coinbase"))
    exchange = PaperExchange(db, fee_rate=Decimal("0.005"), initial_gbp=Decimal("1000.00"))
    trades = TradeRepository(db)
    outbox = OutboxMailer(tmp_path / "outbox")
    receipts = ReceiptService(db, outbox, to="t@example.com", sender="k@example.com")
    steps = TradeActivities(exchange, trades, receipts, TradeLimits(Decimal("1000"), ("BTC-GBP",)))
    key = "trade-BTC-GBP-2026-11-25T11:09:56Z"
    await exchange.place_market_order(
        client_order_id=key, product_id="BTC-GBP", side=Side.BUY, amount=Decimal("10.00")
    )
    converter = pydantic_data_converter.payload_converter
    [recorded] = converter.from_payloads(converter.to_payloads([{"tradeId": key}]), [PlacedOrder])

    env = ActivityEnvironment()
    assert await env.run(steps.write_trade, recorded) is True
    assert await env.run(steps.send_receipt, recorded) is True
    recorded_trade = await trades.get(key)
    assert recorded_trade is not None
    assert recorded_trade.filled_size == Decimal("0.00125952")
    assert await trades.count() == 1
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


async def test_a_paper_trade_says_so_in_the_workers_log_and_on_its_receipt(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    at = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    await RateRepository(db).insert(Rate(rate=Decimal("7900.01"), date_time=at, source="coinbase"))
    exchange = PaperExchange(db, fee_rate=Decimal("0.005"), initial_gbp=Decimal("1000.00"))
    trades = TradeRepository(db)
    outbox = OutboxMailer(tmp_path / "outbox")
    label = mode_label("paper", "simulated")
    receipts = ReceiptService(db, outbox, to="t@example.com", sender="k@example.com", label=label)
    steps = TradeActivities(exchange, trades, receipts, TradeLimits(Decimal("1000"), ("BTC-GBP",)))
    key = "paper-trade-1"
    await exchange.place_market_order(
        client_order_id=key, product_id="BTC-GBP", side=Side.BUY, amount=Decimal("10.00")
    )
    caplog.set_level(logging.INFO)
    env = ActivityEnvironment()
    assert await env.run(steps.write_trade, PlacedOrder(trade_id=key)) is True
    assert await env.run(steps.send_receipt, PlacedOrder(trade_id=key)) is True
    [line] = [r.getMessage() for r in caplog.records if "trade recorded" in r.getMessage()]
    assert line.startswith("trade recorded: PAPER, SIMULATED prices: buy BTC-GBP")
    [eml] = (tmp_path / "outbox").glob("*.eml")
    assert "Subject: Kripto Trade Receipt (PAPER, SIMULATED prices)" in eml.read_text()
