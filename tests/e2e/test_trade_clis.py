"""Trading from the outside, as a person does: the plain `temporal` CLI with the seed's payload,
and `kripto trade`, against the dev server and a worker with the paper exchange."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.devstack.binaries import find_binary
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from tests.trading_fixtures import store_rate

pytestmark = pytest.mark.e2e


@pytest.fixture
async def worker_env(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database
) -> AsyncIterator[dict[str, str]]:
    """A running worker, and the environment a CLI needs to reach it."""
    await store_rate(db)
    services = await build_services(settings)
    async with running_worker(dev_server_env.client, settings, services):
        yield {
            **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
            "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
            "KRIPTO_DATABASE_URL": settings.general.require_database_url(),
            "KRIPTO_TASK_QUEUE": settings.temporal.task_queue,
        }
    await services.close()


async def cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_the_plain_temporal_cli_trades_with_the_seed_payload(
    worker_env: dict[str, str], settings: Settings, db: Database, tmp_path: Path
) -> None:
    key = str(uuid.uuid4())
    payload = json.dumps({"idempotencyKey": key, "tradeType": "buy", "amount": "10.00"})
    command = [
        find_binary("temporal"),
        "workflow",
        "execute",
        "--address",
        worker_env["TEMPORAL_ADDRESS"],
        "--type",
        "TradeWorkflow",
        "--task-queue",
        settings.temporal.task_queue,
        "--workflow-id",
        key,
        "--input",
        payload,
        "-o",
        "json",
    ]
    code, out, err = await cli(command, worker_env, tmp_path)
    assert code == 0, err
    order = json.loads(out)["result"]
    assert order["executedValue"] == "9.9502205952"
    assert order["filledSize"] == "0.00125952"
    assert order["fillFees"] == "0.049751102976"
    assert order["funds"] == "9.95024875"
    assert order["clientOrderId"] == key
    # Again with the CLI's default reuse policy: a new run, the same order, nothing placed.
    code, out, err = await cli(command, worker_env, tmp_path)
    assert code == 0, err
    assert json.loads(out)["result"] == order
    # The same key for a different trade: refused in one line, nothing placed.
    different = json.dumps({"idempotencyKey": key, "tradeType": "sell", "amount": "20.00"})
    code, out, err = await cli([*command[:-3], different, "-o", "json"], worker_env, tmp_path)
    assert code != 0
    assert (
        f"key {key} was used for BUY £10.00 BTC-GBP; this request is SELL £20.00 BTC-GBP"
        in out + err
    )
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 1
    assert await db.pool.fetchval("SELECT count(*) FROM trades") == 1


@pytest.mark.slow
async def test_kripto_trade_sell_all_sells_every_coin_held_as_a_coin_amount(
    worker_env: dict[str, str], db: Database, tmp_path: Path
) -> None:
    kripto = [sys.executable, "-m", "kripto"]
    code, out, err = await cli([*kripto, "trade", "sell", "all"], worker_env, tmp_path)
    assert code != 0
    assert "nothing to sell: the wallet has no BTC available" in err
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 0

    code, out, err = await cli([*kripto, "trade", "buy", "10.00", "--json"], worker_env, tmp_path)
    assert code == 0, err
    assert json.loads(out)["filledSize"] == "0.00125952"
    key = str(uuid.uuid4())
    code, out, err = await cli(
        [*kripto, "trade", "sell", "all", "--key", key, "--json"], worker_env, tmp_path
    )
    assert code == 0, err
    assert f"trade {key}: SELL 0.00125952 BTC BTC-GBP" in err
    sold = json.loads(out)
    # Every coin, not £9.95 turned back into 0.00125949 BTC.
    assert (sold["side"], sold["filledSize"], sold["executedValue"]) == (
        "sell",
        "0.00125952",
        "9.9502205952",
    )
    code, out, err = await cli([*kripto, "trade", "status", key, "--json"], worker_env, tmp_path)
    assert code == 0, err
    request = json.loads(out)["request"]
    assert (request["amount"], request["baseSize"]) == ("9.95", "0.00125952")
    code, out, err = await cli([*kripto, "wallet", "--json"], worker_env, tmp_path)
    assert code == 0, err
    assert json.loads(out)["btc"]["balance"] == "0.00000000"


@pytest.mark.slow
async def test_kripto_trade_prints_the_order_and_says_when_a_key_already_traded(
    worker_env: dict[str, str], db: Database, tmp_path: Path
) -> None:
    key = str(uuid.uuid4())
    kripto = [sys.executable, "-m", "kripto"]
    code, out, err = await cli(
        [*kripto, "trade", "buy", "10.00", "--key", key, "--json"], worker_env, tmp_path
    )
    assert code == 0, err
    first = json.loads(out)
    assert first["filledSize"] == "0.00125952"

    code, out, err = await cli(
        [*kripto, "trade", "buy", "10.00", "--key", key], worker_env, tmp_path
    )
    assert code == 0, err
    assert f"key {key} has already traded" in out
    # The same order, as a person reads it: the seed's £10.00 buy at its 0.5% fee, then the
    # orders it placed (maker-flow's lines).
    assert out.splitlines()[9] == "  order 1     market: filled, filled 0.00125952 BTC for £9.95"
    assert out.splitlines()[1:9] == [
        "BUY BTC-GBP: settled (PAPER)",
        "  asked       £10.00",
        "  paid        £10.00",
        "  size        0.00125952 BTC",
        "  fill price  £7,900.01 per BTC",
        "  fee         £0.05",
        f"  key         {key}",
        f"  order       {first['id']}",
    ]

    # The key for a different trade: an error, not the first trade's order passing for it.
    code, out, err = await cli(
        [*kripto, "trade", "sell", "20.00", "--key", key], worker_env, tmp_path
    )
    assert code == 2
    assert f"key {key} was used for BUY £10.00 BTC-GBP; this request is SELL £20.00" in err
    assert first["id"] not in out

    code, out, err = await cli([*kripto, "trades", "--json"], worker_env, tmp_path)
    assert code == 0, err
    assert [t["id"] for t in json.loads(out)] == [first["id"]]
    code, out, err = await cli([*kripto, "trades"], worker_env, tmp_path)
    assert (code, out.splitlines()[0].rstrip()) == (0, "Trades, newest first (PAPER) (BTC-GBP)")
    # The same story as kripto trade's: asked £10.00, paid £10.00, fee £0.05.
    assert out.splitlines()[3].split()[2:6] == ["buy", "10.00", "10.00", "0.05"]

    code, out, err = await cli([*kripto, "wallet", "--json"], worker_env, tmp_path)
    assert code == 0, err
    assert json.loads(out)["btc"]["balance"] == "0.00125952"
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 1

    code, out, err = await cli([*kripto, "trade", "buy", "10.001"], worker_env, tmp_path)
    assert code == 2
    assert "amount: must have at most 2 decimal places (pennies); got '10.001'" in err
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 1

    # The 8 characters the tables show name the trade, when no other key starts with them.
    code, out, err = await cli([*kripto, "trade", "status", key[:8]], worker_env, tmp_path)
    assert (code, err) == (0, f"note: {key[:8]} is trade {key}\n")
    assert out.splitlines()[:2] == [f"trade {key}: BUY £10.00 BTC-GBP", "status: completed"]
    twin = key[:8] + "-another-trade"
    await db.pool.execute(
        "INSERT INTO trades (trade_id, exchange_order_id, client_order_id, side, product_id,"
        " funds, filled_size, executed_value, fill_fees, settled, created_at)"
        " VALUES ($1, $1, $1, 'buy', 'BTC-GBP', 10, 0, 0, 0, false, now())",
        twin,
    )
    code, out, err = await cli([*kripto, "trade", "status", key[:8]], worker_env, tmp_path)
    assert (code, out) == (2, "")
    assert err == (
        f"error: KEY: {key[:8]!r} begins 2 trades' keys ({key}, {twin}); give more of it\n"
    )
    await db.pool.execute("DELETE FROM trades WHERE trade_id = $1", twin)

    # --product is upper-cased; a product that is not configured is refused, placing nothing.
    code, out, err = await cli(
        [*kripto, "trade", "buy", "10.00", "--product", "eth-gbp"], worker_env, tmp_path
    )
    assert (code, out) == (2, "")
    assert err == (
        "error: --product: ETH-GBP is not one of the configured products"
        " (KRIPTO_PRODUCTS=BTC-GBP); a trade needs one\n"
    )
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 1


@pytest.mark.slow
async def test_a_key_whose_trade_failed_can_trade_later_and_only_once(
    worker_env: dict[str, str], db: Database, tmp_path: Path
) -> None:
    """The original remembered a failed key forever; here a failed key may run again."""
    kripto = [sys.executable, "-m", "kripto"]
    key = str(uuid.uuid4())
    sell = [*kripto, "trade", "sell", "5.00", "--key", key, "--json"]
    code, out, err = await cli(sell, worker_env, tmp_path)
    assert code == 2
    assert f"trade {key} failed" in err and "BTC" in err
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 0

    code, out, err = await cli([*kripto, "trade", "buy", "20.00", "--json"], worker_env, tmp_path)
    assert code == 0, err
    code, out, err = await cli(sell, worker_env, tmp_path)
    assert code == 0, err
    sold = json.loads(out)
    assert (sold["side"], sold["clientOrderId"]) == ("sell", key)
    code, out, err = await cli(sell, worker_env, tmp_path)
    assert code == 0, err
    assert json.loads(out) == sold
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders WHERE side = 'sell'") == 1
