"""The dashboard's Tax page in headless Chromium, on trades stored in Postgres: the same figures
as `kripto tax --year 2025-26` (its JSON is the page's source), and a bad year refused in one
line naming the rule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import expect
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from kripto.dashboard.server import login_url, serve_dashboard
from kripto.db import Database
from kripto.settings import Settings
from kripto.tax.years import TaxYear, uk_day
from tests.e2e.dashboard_browser import chromium, free_port
from tests.e2e.tax_trades import store_tax_trades

pytestmark = pytest.mark.e2e


async def test_tax_page_shows_the_reports_figures(
    time_skipping_env: WorkflowEnvironment, settings: Settings, db: Database, tmp_path: Path
) -> None:
    await store_tax_trades(db)
    settings = settings.model_copy(
        update={
            "dashboard_port": free_port(),
            "dashboard_token": SecretStr("tax-page-test-token-0123456789-0123456789"),
        }
    )
    stop, up = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve_dashboard(settings, time_skipping_env.client, stop, up.set))
    try:
        async with asyncio.timeout(15):
            await up.wait()
        async with chromium() as browser:
            page = await browser.new_page(viewport={"width": 1280, "height": 1000})
            url = login_url(settings)  # every page needs a session (docs/security.md)
            assert url is not None
            await page.goto(url)
            await page.click("#tax-link")
            # Without a year, the page shows the current UK tax year.
            current = TaxYear.containing(uk_day(datetime.now(tz=UTC))).name
            await expect(page.locator("#tax-title")).to_contain_text(current)
            assert await page.input_value("#year") == current
            await page.fill("#year", "2025-26")
            await page.click("header form.year button")
            await expect(page.locator("#tax-title")).to_contain_text("2025-26")
            summary = await page.locator("#summary tbody tr").all_inner_texts()
            assert [" ".join(row.split()) for row in summary] == [
                "Number of disposals 3",
                "Disposal proceeds £10,500",
                "Allowable costs (including the purchase price) £10,118",
                "Gains in the year, before losses £1,099",
                "Losses in the year £717",
            ]
            assert await page.inner_text("#t-aea") == "£3,000"
            assert await page.inner_text("#t-net") == "£382"
            disposals = await page.locator("#disposals tbody tr").all_inner_texts()
            assert [row.split("\t")[:6] for row in disposals] == [
                ["2025-05-20", "BTC", "0.1", "£5,000", "£4,054", "£946"],
                ["2025-06-20", "BTC", "0.1", "£4,000", "£3,847", "£153"],
                ["2026-01-15", "BTC", "0.05", "£1,500", "£2,217", "-£717"],
            ]
            assert disposals[1].split("\t")[6] == (
                "30 day 01/07/2025: 0.1 (£3,822.80); fees £24.00"
            )
            closing = await page.inner_text('table.pool[data-asset="BTC"] tr.closing')
            assert closing.split() == ["closing", "balance", "0.4", "£17,660"]
            await expect(page.locator("#conversions li")).to_have_count(1)
            await page.screenshot(path=tmp_path / "tax-page.png", full_page=True)

            api = await page.request.get(f"{settings.dashboard.dashboard_url}/api/tax?year=2025-26")
            assert (await api.json())["totals"] == {
                "disposals": 3,
                "proceeds": "10500",
                "allowableCosts": "10118",
                "gains": "1099",
                "losses": "717",
                "netGains": "382",
                "exact": {
                    "proceeds": "10500.00",
                    "allowableCosts": "10117.41",
                    "gains": "1099.20",
                    "losses": "716.61",
                    "netGains": "382.59",
                },
            }

            response = await page.goto(f"{settings.dashboard.dashboard_url}/tax?year=2025-2026")
            assert response is not None and response.status == 400
            assert await page.inner_text("#message") == (
                "--year: '2025-2026' is not a UK tax year; write it as YYYY-YY, e.g. 2025-26"
                " (6 April 2025 to 5 April 2026)"
            )
    finally:
        stop.set()
        await server
