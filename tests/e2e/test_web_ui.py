"""The Temporal Web UI tells Kripto's story with no configuration, on the real dev server with
its UI: README's filter queries find exactly the workflows they promise, and a real browser
finds a trade by its search attributes and a tick by its action and reads their summaries.

Screenshots land in the test's tmp_path (printed at the end; pytest keeps the last runs')."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
import typer
from playwright.async_api import Page, expect
from temporalio.client import Client
from temporalio.common import TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from kripto.cli.trading import start_trade
from kripto.db import Database
from kripto.db.rates import RateRepository
from kripto.devstack.binaries import find_binary
from kripto.devstack.temporal import port_is_free
from kripto.ids import decide_id, trade_id_for_decision
from kripto.models import ExchangeTickInput, Rate, Side, TradeRequest
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from kripto.temporal.search_attributes import ensure_search_attributes, trade_attributes
from workflows.exchange_tick import ExchangeTickWorkflow
from workflows.trade import TradeWorkflow

#: The page that gives the queries and the column setup (docs/operating.md, "The Web UI").
README = Path(__file__).resolve().parents[2] / "docs" / "operating.md"
#: The date README's examples use; the test puts a week ago in its place.
README_DATE = "2026-11-18T00:00:00Z"
SELLS_OVER_50 = f'KriptoSide = "sell" AND KriptoAmountGbp > 50 AND StartTime > "{README_DATE}"'
UNDER_WAY = 'WorkflowType = "TradeWorkflow" AND ExecutionStatus = "Running"'
TICKS_THAT_BOUGHT = 'WorkflowType = "ExchangeTickWorkflow" AND KriptoMarkets = "buy"'
SECOND_RUNS = 'KriptoTradeStep = "done: already traded, placed nothing"'
FAILED_TRADES = 'WorkflowType = "TradeWorkflow" AND ExecutionStatus = "Failed"'
README_QUERIES = (SELLS_OVER_50, UNDER_WAY, TICKS_THAT_BOUGHT, SECOND_RUNS, FAILED_TRADES)


def free_port() -> int:
    for port in range(18300, 18400):
        if port_is_free(port):
            return port
    raise RuntimeError("no free port in 18300-18399")


@pytest.fixture
async def ui_env() -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """A dev server of this test's own, with its Web UI, as `kripto dev` runs it."""
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=find_binary("temporal"),
        dev_server_log_level="error",
        ui=True,
        ui_port=ui_port,
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    try:
        yield env, f"http://127.0.0.1:{ui_port}"
    finally:
        await env.shutdown()


async def ids(client: Client, query: str) -> set[str]:
    return {w.id async for w in client.list_workflows(query)}


async def eventually(client: Client, query: str, expected: set[str]) -> set[str]:
    """Visibility lags the workflows a little: poll until the list is what it should be."""
    found: set[str] = set()
    try:
        async with asyncio.timeout(15):
            while (found := await ids(client, query)) != expected:
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{query} found {found}, not {expected}") from None
    return found


@pytest.mark.slow
async def test_the_web_ui_tells_the_story_without_configuration(
    ui_env: tuple[WorkflowEnvironment, str],
    settings: Settings,
    db: Database,
    browser_page: Page,
    tmp_path: Path,
) -> None:
    env, ui = ui_env
    client = env.client
    host = client.service_client.config.target_host
    settings = settings.model_copy(
        update={
            "temporal_address": host,
            "strategy": "ema_cross",
            "ema_short_minutes": 2,
            "ema_long_minutes": 5,
            "cooldown": timedelta(0),
            # The story buys £150.00 and then £200.00: past the default £250.00 a day.
            "daily_spend_limit_gbp": Decimal("1000.00"),
            # A sell of more than is held now sells the holdings (issue 23), so the refused
            # sell is one above the per-trade maximum: refused by the trade, so it ends FAILED.
            "max_trade_gbp": Decimal("500.00"),
        }
    )
    readme = README.read_text()
    for query in README_QUERIES:
        assert f"`{query}`" in readme, f"README no longer gives {query}"

    # A flat hour at 40k, then a tick at the simulated feed's 53k-67k: the EMAs cross, it buys.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for i in range(10):
        at = now - timedelta(minutes=10 - i)
        await RateRepository(db).insert(
            Rate(rate=Decimal("40000.00"), date_time=at, source="simulated")
        )
    services = await build_services(settings)
    tick_id = f"tick-coinbase-{uuid.uuid4()}"
    under_way = f"trade-under-way-{uuid.uuid4()}"
    under_way_started = False
    try:
        async with running_worker(client, settings, services):
            tick = await client.execute_workflow(
                ExchangeTickWorkflow.run,
                ExchangeTickInput(),
                id=tick_id,
                task_queue=settings.temporal.task_queue,
            )
            assert tick.actions == {"BTC-GBP": "buy"}
            bought = trade_id_for_decision(decide_id("BTC-GBP", tick.at))
            await client.get_workflow_handle(bought).result()
            # Trades as a person starts them (`kripto trade`): a buy, two sells, a second run.
            big_sell, small_sell = str(uuid.uuid4()), str(uuid.uuid4())
            for key, side, amount in (
                (str(uuid.uuid4()), Side.BUY, "200.00"),
                (big_sell, Side.SELL, "60.00"),
                (small_sell, Side.SELL, "20.00"),
            ):
                await start_trade(
                    settings,
                    TradeRequest(idempotency_key=key, trade_type=side, amount=Decimal(amount)),
                )
            # The plain CLI's default reuse policy runs a closed key again: it places nothing.
            await client.execute_workflow(
                "TradeWorkflow",
                {"tradeType": "sell", "amount": "60.00"},
                id=big_sell,
                task_queue=settings.temporal.task_queue,
                result_type=dict,
            )
            # A sell above the per-trade maximum: refused, FAILED, its step says why.
            failed = str(uuid.uuid4())
            with pytest.raises(typer.Exit):  # `kripto trade` prints why and exits 2
                await start_trade(
                    settings,
                    TradeRequest(
                        idempotency_key=failed, trade_type=Side.SELL, amount=Decimal("900.00")
                    ),
                )
            # A trade no worker has picked up yet: still under way.
            request = TradeRequest(trade_type=Side.BUY, amount=Decimal("5.00"))
            await client.start_workflow(
                TradeWorkflow.run,
                request,
                id=under_way,
                task_queue=f"{settings.temporal.task_queue}-nobody",
                search_attributes=TypedSearchAttributes(trade_attributes(request)),
            )
            under_way_started = True

            week_ago = (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
            sells = SELLS_OVER_50.replace(README_DATE, week_ago)
            # The £60 sell and the refused £900 one; not the £20 sell, nor any buy.
            assert await eventually(client, sells, {big_sell, failed}) == {big_sell, failed}
            assert (
                await ids(client, SELLS_OVER_50.replace(README_DATE, "2999-01-01T00:00:00Z"))
                == set()
            )
            assert await eventually(client, UNDER_WAY, {under_way}) == {under_way}
            assert await eventually(client, TICKS_THAT_BOUGHT, {tick_id}) == {tick_id}
            assert await eventually(client, SECOND_RUNS, {big_sell}) == {big_sell}
            assert await eventually(client, FAILED_TRADES, {failed}) == {failed}

            try:
                shots = await browse(browser_page, ui, tmp_path, sells, big_sell, tick_id, failed)
            except Exception:
                await browser_page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                raise
    finally:
        if under_way_started:
            await client.get_workflow_handle(under_way).terminate("test done")
        await services.close()
    print("screenshots:", *shots, sep="\n  ")


async def browse(
    page: Page, ui: str, out: Path, sells: str, big_sell: str, tick_id: str, failed: str
) -> list[Path]:
    """What a person does: filter the list by a query in the URL, open a row, read it."""
    shots: list[Path] = []

    async def shot(name: str) -> None:
        path = out / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    workflows = f"{ui}/namespaces/default/workflows"
    await page.goto(f"{workflows}?query={quote(sells)}")
    await page.get_by_role("link", name=big_sell).first.wait_for()
    await shot("trades-sells-over-50")
    # README's one-line column setup: then each trade's row says what it is, not just its key.
    setup = README.read_text().split("```js\n", 1)[1].split("\n```", 1)[0]
    assert setup.startswith('localStorage.setItem("namespace-workflow-table-columns"'), setup
    await page.evaluate(setup)
    for width in (1400, 2200):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.goto(f"{workflows}?query={quote(sells)}")
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=big_sell))
        await expect(row.first).to_contain_text("SELL £60.00 BTC-GBP")
        await expect(row.first).to_contain_text("done: already traded, placed nothing")
        await expect(
            page.get_by_role("columnheader", name="KriptoTrade", exact=True)
        ).to_be_visible()
        await shot(f"trades-with-kripto-columns-{width}")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.get_by_role("link", name=big_sell).first.click()
    # The Details come from the workflow (a query its worker answers), under User Metadata.
    await page.get_by_role("tab", name="User Metadata").click()
    await see(page, "SELL £60.00 BTC-GBP: done: already traded, placed nothing (order ")
    await shot("trade-second-run")

    await page.goto(f"{workflows}?query={quote(TICKS_THAT_BOUGHT)}")
    await page.get_by_role("link", name=tick_id).first.wait_for()
    await shot("ticks-that-bought")
    await page.get_by_role("link", name=tick_id).first.click()
    await page.get_by_role("tab", name="User Metadata").click()
    await see(page, re.compile(r"coinbase \S+ \(simulated\): 1 buy"))
    await shot("tick-that-bought")

    await page.goto(f"{workflows}?query={quote(FAILED_TRADES)}")
    await page.get_by_role("link", name=failed).first.click()
    await page.get_by_role("tab", name="User Metadata").click()
    await see(page, "SELL £900.00 BTC-GBP: failed: InvalidInput: amount £900.00 is above")
    await shot("trade-failed")
    return shots


async def see(page: Page, text: str | re.Pattern[str]) -> str:
    """Wait until the page shows `text`. The UI renders Details (markdown) in a sandboxed
    frame, so every frame's text is read; returns the text that matched."""
    shown = ""
    try:
        async with asyncio.timeout(20):
            while True:
                for frame in page.frames:
                    try:
                        shown = await frame.inner_text("body", timeout=1_000)
                    except Exception:  # a frame that went away or has no body yet
                        continue
                    found = text.search(shown) if isinstance(text, re.Pattern) else text in shown
                    if found:
                        return shown
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise AssertionError(
            f"the page never showed {text!r}; last frame read: {shown!r}"
        ) from None
