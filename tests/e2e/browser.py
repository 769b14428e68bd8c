"""A real browser for tests of the Temporal Web UI and the dashboard: Debian's headless Chromium
driven by Playwright for Python. Playwright's own browser download is never used (`playwright
install` needs the internet); a test FAILS, not skips, when /usr/bin/chromium is missing, because
a skipped UI test reads as a passing one (`make sysdeps` installs it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
#: Quiet and offline: no sandbox (tests may run as root), no GPU, no calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium with its own profile folder (Playwright's persistent context
    is how it takes --user-data-dir), closed afterwards."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: browser tests need Debian's chromium package"
            " (`make sysdeps`, or `apt-get install chromium`)"
        )
    profile.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def browser_page(tmp_path: Path) -> AsyncIterator[Page]:
    """A page in a fresh headless Chromium profile under the test's tmp_path."""
    async with chromium(tmp_path / "chromium-profile") as context:
        page = context.pages[0] if context.pages else await context.new_page()
        page.set_default_timeout(20_000)
        yield page
