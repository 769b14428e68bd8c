"""A real browser for tests of the Temporal Web UI: Debian's headless Chromium driven by
Playwright for Python. Playwright's own browser download is never used (`playwright install`
needs the internet); the test FAILS, not skips, when /usr/bin/chromium is missing, because a
skipped UI test reads as a passing one (`make sysdeps` installs it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

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


@pytest.fixture
async def browser_page(tmp_path: Path) -> AsyncIterator[Page]:
    """A page in a fresh headless Chromium profile under the test's tmp_path."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the Web UI tests need Debian's chromium package"
            " (`make sysdeps`, or `apt-get install chromium`)"
        )
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(20_000)
            yield page
        finally:
            await context.close()
