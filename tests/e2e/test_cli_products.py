"""`kripto rates` and `kripto decisions` as a new user types them: `--product btc-gbp` is
upper-cased, a one-day window is "last day", and a product that is not configured says so
rather than printing an empty table."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kripto.db import Database
from kripto.settings import Settings
from tests.e2e.test_tax_cli import KRIPTO, cli_env

pytestmark = pytest.mark.e2e


async def cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        KRIPTO, *args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_product_case_last_day_and_unconfigured_products(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    await db.pool.execute(
        "INSERT INTO rates (product_id, date_time, rate, source) VALUES ('BTC-GBP', $1, 7900.01,"
        " 'csv')",
        minute,
    )
    env = cli_env(settings)
    shown, eth, decisions = await asyncio.gather(
        cli(["rates", "--days", "1", "--product", "btc-gbp"], env, tmp_path),
        cli(["rates", "--product", "eth-gbp"], env, tmp_path),
        cli(["decisions", "--product", "eth-gbp"], env, tmp_path),
    )
    code, out, err = shown
    assert (code, err) == (0, "")
    assert "BTC-GBP, last day" in out and "7,900.01" in out
    assert eth == (
        1,
        "",
        "error: --product: no rates: ETH-GBP is not one of the configured products"
        " (KRIPTO_PRODUCTS=BTC-GBP)\n",
    )
    assert decisions == (
        1,
        "",
        "error: --product: no decisions: ETH-GBP is not one of the configured products"
        " (KRIPTO_PRODUCTS=BTC-GBP)\n",
    )
