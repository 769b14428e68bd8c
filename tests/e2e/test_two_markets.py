"""Two markets, BTC-GBP and ETH-GBP, on the dev server with the paper exchange: each tick and
each trade touches only its own market's balances (GBP is shared), the receipts and the CLI
name the right currencies, the cooldown is per product (ETH trades right after BTC), and the
daily GBP spend limit is one limit across both."""

from __future__ import annotations

import asyncio
import email
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import Message
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.db.decisions import DecisionRepository
from kripto.db.rates import RateRepository
from kripto.flows.ticks import DecideMarketsInput, ExchangeTickInput
from kripto.ids import decide_id
from kripto.mail.outbox import file_stem
from kripto.models import Prices, Rate
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from workflows.decide_markets import DecideMarketsWorkflow
from workflows.exchange_tick import ExchangeTickWorkflow

pytestmark = pytest.mark.e2e

PRODUCTS = ["BTC-GBP", "ETH-GBP"]
#: Flat minutes, then a jump: an ema_cross(2, 5) buy signal (as in test_decide_activity). Thirty
#: of them, so the ticks' own simulated rates (near £60,000 for either product) have faded out of
#: the averages.
FLAT = {"BTC-GBP": Decimal("40000.00"), "ETH-GBP": Decimal("1000.00")}
JUMP = {"BTC-GBP": Decimal("57000.00"), "ETH-GBP": Decimal("1425.00")}


async def seed_jump(db: Database, product: str, at: datetime) -> Rate:
    """The flat minutes and the jump, all stored: the paper exchange fills at the jump."""
    rates = RateRepository(db)
    for i in range(30, 0, -1):
        minute = at - timedelta(minutes=i)
        await rates.insert(
            Rate(product_id=product, rate=FLAT[product], date_time=minute, source="simulated")
        )
    jump = Rate(product_id=product, rate=JUMP[product], date_time=at, source="simulated")
    await rates.insert(jump)
    return jump


async def cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kripto", *args, env=env, cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def recorded(db: Database, trade_id: str) -> None:
    """Wait until the trade a decision started is recorded and its receipt sent."""
    async with asyncio.timeout(30):
        while not await db.pool.fetchval(
            "SELECT count(*) FROM receipts WHERE trade_id = $1 AND status = 'sent'", trade_id
        ):
            await asyncio.sleep(0.1)


def text_of(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes())
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            assert isinstance(part, Message)
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"{path.name} has no text part")


async def decide(client: Client, settings: Settings, db: Database, rate: Rate) -> str:
    """One market's decision, as the exchange tick makes it; its reason as recorded."""
    await client.execute_workflow(
        DecideMarketsWorkflow.run,
        DecideMarketsInput(prices=Prices.of([rate], rate.date_time, "simulated")),
        id=f"decide-{rate.product_id}-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal.task_queue,
    )
    decision = await DecisionRepository(db).get(decide_id(rate.product_id, rate.date_time))
    assert decision is not None
    return decision.reason


@pytest.mark.slow
async def test_two_markets_trade_their_own_balances_and_share_the_daily_gbp_limit(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={
            "products": PRODUCTS,
            "strategy": "ema_cross",
            "ema_short_minutes": 2,
            "ema_long_minutes": 5,
            "daily_spend_limit_gbp": Decimal("200.00"),
        }
    )
    client = dev_server_env.client
    services = await build_services(settings)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KRIPTO_DATABASE_URL": settings.general.require_database_url(),
        "KRIPTO_TASK_QUEUE": settings.temporal.task_queue,
        "KRIPTO_PRODUCTS": ",".join(PRODUCTS),
    }
    try:
        async with running_worker(client, settings, services):
            # A tick of the exchange stores each market's rate and holds (too few points yet).
            tick = await client.execute_workflow(
                ExchangeTickWorkflow.run,
                ExchangeTickInput(products=PRODUCTS),
                id=f"tick-coinbase-{uuid.uuid4().hex[:8]}",
                task_queue=settings.temporal.task_queue,
            )
            assert (tick.stored, tick.actions) == (2, dict.fromkeys(PRODUCTS, "hold"))
            for product in PRODUCTS:
                assert await RateRepository(db).count(product) == 1

            # Decisions a few minutes ahead, on seeded rates (the ticks' minute stays clear).
            at = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=35)
            btc_rate = await seed_jump(db, "BTC-GBP", at)
            eth_rate = await seed_jump(db, "ETH-GBP", at)
            wallet_before = await services.exchange.wallet()
            assert wallet_before.balance("ETH").balance == 0 and wallet_before.btc.balance == 0

            # 15% of £1000.00 is £150.00, within the £200.00 limit.
            assert await decide(client, settings, db, btc_rate) == (
                "buy: ema_cross signal at 57000.00; buy £150.00"
            )
            btc_trade = str(
                await db.pool.fetchval(
                    "SELECT trade_id FROM decisions WHERE product_id = 'BTC-GBP'"
                    " AND trade_id IS NOT NULL"
                )
            )
            assert btc_trade.startswith("trade-BTC-GBP-")
            await recorded(db, btc_trade)
            # The BTC buy cost £149.9996268: its cooldown does not hold ETH back, but the
            # daily limit is shared, so ETH may spend only the £50.00 left of the £200.00.
            assert await decide(client, settings, db, eth_rate) == (
                "buy: ema_cross signal at 1425.00; buy £50.00"
            )
            eth_trade = str(
                await db.pool.fetchval(
                    "SELECT trade_id FROM decisions WHERE product_id = 'ETH-GBP'"
                    " AND trade_id IS NOT NULL"
                )
            )
            await recorded(db, eth_trade)

            # A manual sell of ETH from the CLI: only ETH and GBP move.
            code, out, err = await cli(
                ["trade", "sell", "5.00", "--product", "ETH-GBP", "--json"], env, tmp_path
            )
            assert code == 0, err
            sold = json.loads(out)
            assert (sold["productId"], sold["filledSize"]) == ("ETH-GBP", "0.00350877")
            assert Decimal(sold["executedValue"]) == Decimal("4.99999725")

            orders = {
                r["product_id"] + "-" + r["side"]: r
                for r in await db.pool.fetch(
                    "SELECT product_id, side, filled_size, executed_value, fill_fees"
                    " FROM paper_orders"
                )
            }
            assert len(orders) == 3
            btc = orders["BTC-GBP-buy"]
            assert (btc["filled_size"], btc["executed_value"], btc["fill_fees"]) == (
                Decimal("0.00261848"),
                Decimal("149.25336000"),
                Decimal("0.7462668"),
            )
            eth = orders["ETH-GBP-buy"]
            assert (eth["filled_size"], eth["executed_value"]) == (
                Decimal("0.03491315"),
                Decimal("49.75123875"),
            )

            # Balances: GBP spent by both, BTC only by BTC-GBP, ETH only by ETH-GBP.
            code, out, err = await cli(["wallet", "--json"], env, tmp_path)
            assert code == 0, err
            wallet = json.loads(out)
            assert list(wallet) == ["gbp", "btc", "eth"]
            assert Decimal(wallet["gbp"]["balance"]) == Decimal("804.97537552")
            assert Decimal(wallet["btc"]["balance"]) == Decimal("0.00261848")
            assert Decimal(wallet["eth"]["balance"]) == Decimal("0.03140438")
            assert Decimal(wallet["eth"]["available"]) == Decimal("0.03140438")
            code, out, err = await cli(["wallet"], env, tmp_path)
            assert code == 0, err
            rows = {
                cells[0]: cells[1:]
                for line in out.splitlines()
                if len(cells := line.replace("│", " ").split()) == 4
                and cells[0] in ("GBP", "BTC", "ETH")
            }
            assert rows == {
                "GBP": ["804.98", "0.00", "804.98"],
                "BTC": ["0.00261848", "0.00000000", "0.00261848"],
                "ETH": ["0.03140438", "0.00000000", "0.03140438"],
            }

            code, out, err = await cli(["trades", "--json"], env, tmp_path)
            assert code == 0, err
            assert [(t["productId"], t["side"]) for t in json.loads(out)] == [
                ("ETH-GBP", "sell"),
                ("ETH-GBP", "buy"),
                ("BTC-GBP", "buy"),
            ]
            code, out, err = await cli(["trades"], {**env, "COLUMNS": "200"}, tmp_path)
            assert code == 0, err
            assert out.count("ETH-GBP") == 2 and out.count("BTC-GBP") == 1
            assert "0.03491315" in out and "0.00261848" in out and "paid/got £" in out

            # The receipts name each market's own currencies.
            receipts = {
                path.stem: text_of(path)
                for path in sorted(settings.general.outbox_dir.glob("*.eml"))
            }
            assert len(receipts) == 3
            btc_receipt = receipts[file_stem(btc_trade)]
            assert "BTC change:       +0.00261848 BTC" in btc_receipt
            assert "GBP change:       -£150.00" in btc_receipt
            assert "ETH" not in btc_receipt
            eth_receipt = receipts[file_stem(eth_trade)]
            assert "Fill price:       £1,425.00 per ETH" in eth_receipt
            assert "ETH change:       +0.03491315 ETH" in eth_receipt
            assert "GBP change:       -£50.00" in eth_receipt
            assert "BTC" not in eth_receipt
    finally:
        await services.close()
