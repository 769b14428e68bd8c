"""The dashboard in a real browser: Debian's Chromium driven by Playwright, and a week (or a
day) of minute rates to draw. Shared by the browser test and benchmarks/dashboard_ready.py.

The browser must be there: a missing /usr/bin/chromium fails the test (`make sysdeps`
installs it), it is never skipped or downloaded."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from playwright.async_api import Browser, async_playwright

from kripto.db import Database

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium. Playwright gives every launch a fresh, temporary profile folder (it
    refuses a `--user-data-dir` argument to `launch`)."""
    if not CHROMIUM.exists():
        raise AssertionError(f"{CHROMIUM} is missing: run `make sysdeps` (Debian's chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
        )
        try:
            yield browser
        finally:
            await browser.close()


async def store_minute_rates(
    db: Database, minutes: int, product_id: str = "BTC-GBP", end: datetime | None = None
) -> datetime:
    """`minutes` rates a minute apart, ending at `end` (default: this minute), with a gentle
    wave so the chart has a shape. Returns the newest rate's time."""
    end = end or datetime.now(tz=UTC).replace(second=0, microsecond=0)
    rows = [
        (
            product_id,
            end - timedelta(minutes=minutes - 1 - i),
            Decimal(50000 + (i % 240 - 120) * 5 + i // 60),
            "simulated",
        )
        for i in range(minutes)
    ]
    await db.pool.executemany(
        "INSERT INTO rates (product_id, date_time, rate, source) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        rows,
    )
    return end
