"""Headless Debian Chromium for browser tests, through Playwright for Python. Never
`playwright install`: the browser is the system's (/usr/bin/chromium, `make sysdeps`), and a
missing browser fails the test rather than skipping it."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import BrowserContext, async_playwright

CHROMIUM = "/usr/bin/chromium"


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium with its own profile folder (Playwright's persistent context
    is how it takes --user-data-dir), closed afterwards."""
    if shutil.which(CHROMIUM) is None:
        raise AssertionError(f"{CHROMIUM} is missing: run `make sysdeps` (Debian's chromium)")
    profile.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1400, "height": 1000},
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()
