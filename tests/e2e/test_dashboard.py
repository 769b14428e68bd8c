"""The dashboard in headless Chromium on a real stack (Temporal dev server, Postgres, a worker,
the dashboard under uvicorn): the chart draws a day of rates; a manual trade (clicked twice)
trades once and appears without a reload; pause and resume work; and the stop link in that
trade's receipt pauses trading, after which a tick decides nothing."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from kripto.dashboard.server import login_url, serve_dashboard
from kripto.db import Database
from kripto.fills import market_fill
from kripto.ids import schedule_id
from kripto.models import Side
from kripto.money import fmt_gbp
from kripto.runtime.schedules import ensure_schedules
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from tests.e2e.dashboard_browser import chromium, free_port, store_minute_rates

#: The exchange's schedule is one per task queue: this module's tests share one queue, so
#: their helpers can name the schedule.
TASK_QUEUE = "kripto-dashboard-test"


@pytest.fixture
def task_queue() -> str:
    return TASK_QUEUE


pytestmark = pytest.mark.e2e
DAY = 1440


@pytest.fixture
async def stack(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database
) -> AsyncIterator[Settings]:
    settings = settings.model_copy(
        update={
            "dashboard_port": free_port(),
            "dashboard_token": SecretStr("browser-test-token-0123456789-0123456789"),
            "stop_link_secret": SecretStr("browser-test-stop-secret-0123456789"),
            # The test triggers the ticks it wants; none run on their own meanwhile.
            "schedule_every": timedelta(hours=1),
        }
    )
    await store_minute_rates(db, DAY)
    client = dev_server_env.client
    services = await build_services(settings)
    stop = asyncio.Event()
    up = asyncio.Event()
    try:
        async with running_worker(client, settings, services):
            await ensure_schedules(client, settings)
            dashboard = asyncio.create_task(serve_dashboard(settings, client, stop, up.set))
            async with asyncio.timeout(15):
                await up.wait()
            yield settings
            stop.set()
            await dashboard
    finally:
        await client.get_schedule_handle(schedule_id("BTC-GBP", TASK_QUEUE)).delete()
        await services.close()


async def chart_state(page: Page) -> dict[str, int]:
    return await page.evaluate("() => ({...window.kriptoChart})")


async def schedule_state(env: WorkflowEnvironment) -> tuple[bool, str]:
    described = await env.client.get_schedule_handle(schedule_id("BTC-GBP", TASK_QUEUE)).describe()
    return described.schedule.state.paused, described.schedule.state.note or ""


async def wait_for(condition: object, what: str, seconds: float = 20) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():  # type: ignore[operator]
            await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_dashboard_in_a_browser(
    stack: Settings, dev_server_env: WorkflowEnvironment, db: Database, tmp_path: Path
) -> None:
    settings = stack
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 1100})
        url = login_url(settings)
        assert url is not None
        await page.goto(url)
        assert page.url == f"{settings.dashboard.dashboard_url}/"

        # 1-2) The chart drew every minute of the day, and no trade yet.
        await page.wait_for_function("() => window.kriptoChart && window.kriptoChart.draws > 0")
        drawn = await chart_state(page)
        assert (drawn["points"], drawn["markers"], drawn["valuePoints"]) == (DAY, 0, DAY)
        await expect(page.locator("#k-state")).to_have_text("running")
        # The prices here come from the simulated feed, and the page says so.
        await expect(page.locator("#simulated")).to_have_text("SIMULATED PRICES")
        await expect(page.locator("#simulated")).to_be_visible()

        # A trade the limits refuse shows its one-line reason and trades nothing.
        await page.fill("#trade-amount", "5000.00")
        refused_key = await page.input_value("#trade-key")
        await page.click("#trade-submit")
        await page.click("#trade-yes")
        await expect(page.locator("#trade-result")).to_have_text(
            "trade refused: InvalidInput: amount £5,000.00 is above the per-trade maximum of"
            " £1,000.00 (KRIPTO_MAX_TRADE_GBP)"
        )
        assert await db.pool.fetchval("SELECT count(*) FROM trades") == 0
        assert await page.input_value("#trade-key") != refused_key  # a new key for a new try

        # 3) A manual trade, clicked twice: one key, so one trade; it appears without a reload.
        await page.fill("#trade-amount", "25.00")
        key = await page.input_value("#trade-key")
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", key
        )
        # First what it would be, at the newest rate and the configured fee; then confirmed.
        newest = await db.pool.fetchval(
            "SELECT rate FROM rates WHERE product_id = 'BTC-GBP' ORDER BY date_time DESC LIMIT 1"
        )
        quoted = market_fill(Side.BUY, Decimal("25.00"), newest, settings.exchange.taker_fee)
        await page.click("#trade-submit")
        await expect(page.locator("#trade-quote")).to_have_text(
            f"BUY £25.00 of BTC: about {quoted.filled_size} BTC at {fmt_gbp(newest)}, fee about"
            f" {fmt_gbp(quoted.fill_fees)} (0.5%)."
        )
        await page.screenshot(path=shots / "0-confirm.png", full_page=True)
        assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 0  # not yet
        await page.click("#trade-yes")
        await page.evaluate("() => document.getElementById('trade-yes').click()")  # a double
        # One amount story: asked, paid (value and fee) and the fee, as kripto trade says it.
        await expect(page.locator("#trade-result")).to_contain_text(
            "traded: buy £25.00: paid £25.00, fee £0.12 (", timeout=30_000
        )
        await expect(page.locator(f'#trades tr[data-trade="{key}"]')).to_have_count(1)
        await page.wait_for_function("() => window.kriptoChart.markers === 1")
        assert await db.pool.fetchval("SELECT count(*) FROM trades") == 1
        assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 1
        assert await db.pool.fetchval("SELECT trade_id FROM trades") == key
        traded = await db.pool.fetchrow("SELECT executed_value, filled_size FROM trades")
        fill_price = fmt_gbp(traded["executed_value"] / traded["filled_size"])
        await expect(page.locator(f'#trades tr[data-trade="{key}"] .fill-price')).to_have_text(
            fill_price
        )
        # The table tells the trade's story as the result line did: asked, paid, fee.
        row = page.locator(f'#trades tr[data-trade="{key}"]')
        await expect(row.locator(".asked")).to_have_text("£25.00")
        await expect(row.locator(".paid")).to_have_text("£25.00")
        await expect(row.locator(".fee")).to_have_text("£0.12")
        link = page.locator(f'#trades tr[data-trade="{key}"] a')
        assert await link.get_attribute("href") == (
            f"{settings.temporal.temporal_ui_url}/namespaces/default/workflows/{key}"
        )
        memo = await (await dev_server_env.client.get_workflow_handle(key).describe()).memo()
        assert str(memo["by"]).startswith("traded from the dashboard by 127.0.0.1")
        await expect(page.locator("#m-fees")).not_to_have_text("£0.00")
        # A paper market order is a taker: it saved nothing against all-taker.
        await expect(page.locator("#m-saved")).to_have_text("£0.00 against all-taker")
        # Hovering the trade's marker shows what it was and why (here: a manual trade).
        bar = await page.evaluate(f"() => window.kriptoChart.markerBar({key!r})")
        assert bar is not None
        for dy in range(4, 40, 3):  # the arrow sits a little below its bar
            await page.mouse.move(bar["x"], bar["y"] + dy)
            if await page.locator("#tooltip").is_visible():
                break
        await expect(page.locator("#tooltip")).to_have_text(
            re.compile(r"^BUY £24\.88 \(0\.\d+ BTC\): manual trade$")
        )
        # Labels that stay readable: one letter a marker, room after the newest point for the
        # last time label, and no titles widening the money chart's price tags over its axis.
        assert await page.evaluate("() => window.kriptoChart.layout()") == {
            "rightOffset": 6,
            "moneyTitles": ["", "", ""],
            "markerTexts": ["B"],
        }
        await page.screenshot(path=shots / "1-traded.png", full_page=True)

        # 4) Pause and resume.
        await page.click("#pause")
        await expect(page.locator("#k-state")).to_have_text("PAUSED")
        paused, note = await schedule_state(dev_server_env)
        assert paused is True
        assert note.startswith("paused from the dashboard by 127.0.0.1")
        await page.screenshot(path=shots / "2-paused.png", full_page=True)
        await page.click("#resume")
        await expect(page.locator("#k-state")).to_have_text("running")
        assert (await schedule_state(dev_server_env))[0] is False

        # 5) The receipt's stop link: open it, confirm, and trading is paused.
        receipts = sorted(settings.general.outbox_dir.glob("*.eml"))
        assert len(receipts) == 1
        message = email.message_from_bytes(receipts[0].read_bytes(), policy=email.policy.default)
        body = message.get_body(("plain",))
        assert body is not None
        found = re.search(
            rf"{re.escape(settings.dashboard.dashboard_url)}/stop/\S+", body.get_content()
        )
        assert found, body.get_content()
        stop_page = await browser.new_page()
        await stop_page.goto(found.group(0))
        await expect(stop_page.locator("h1")).to_have_text("Stop trading?")
        await stop_page.screenshot(path=shots / "3-stop-link.png")
        await stop_page.click("#confirm-stop")
        await expect(stop_page.locator("#title")).to_have_text("Trading paused")
        await stop_page.screenshot(path=shots / "4-stopped.png")
        paused, note = await schedule_state(dev_server_env)
        assert paused is True
        assert note.startswith("paused by a receipt's stop link")
        await expect(page.locator("#k-state")).to_have_text("PAUSED")  # the page updates itself

        # The next tick decides nothing: the decider holds while the kill switch is on.
        await dev_server_env.client.get_schedule_handle(
            schedule_id("BTC-GBP", TASK_QUEUE)
        ).trigger()

        async def decided() -> bool:
            return bool(await db.pool.fetchval("SELECT count(*) FROM decisions"))

        await wait_for(decided, "a decision from the triggered tick")
        row = await db.pool.fetchrow("SELECT action, reason, trade_id FROM decisions")
        assert (row["action"], row["trade_id"]) == ("hold", None)
        assert row["reason"] == (
            "hold: automatic trading is paused (`kripto schedule resume` turns it back on)"
        )
        await expect(page.locator("#n-decision")).to_contain_text("automatic trading is paused")
        assert await db.pool.fetchval("SELECT count(*) FROM trades") == 1
        await page.screenshot(path=shots / "5-after-tick.png", full_page=True)
