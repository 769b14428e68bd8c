"""Maker-first trades (docs/execution.md) on the time-skipping server with a real worker, real
Postgres and the fake Coinbase's order book: a full fill at maker, a partial fill then a taker
remainder, a post-only refused for crossing then re-quoted, the window running out and falling
back, a cancel that loses a race with a fill, and the touch moving away.

The window's waits are durable timers: while the test acts on the book (a fill, a move) time
runs as on a clock; `handle.result()` then skips it to the window's end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from kripto.execution import Execution, ProductRules, base_size_for
from kripto.models import Order, ReconcileRequest, Side, TradeRequest
from kripto.runtime.trades import start_trade_workflow
from kripto.runtime.worker import Services, build_services, build_worker
from kripto.settings import Settings
from tests.fakes.coinbase_fixtures import FakeCoinbase
from tests.fakes.coinbase_server import Fault
from tests.temporal_fixtures import record_history
from workflows.reconcile import ReconcileWorkflow
from workflows.trade import TradeWorkflow

#: The fake's book around its price of 7900.01: the best bid and ask.
BID, ASK = Decimal("7900.00"), Decimal("7900.02")
RULES = ProductRules(
    product_id="BTC-GBP",
    base_increment=Decimal("0.00000001"),
    quote_increment=Decimal("0.01"),
    base_min_size=Decimal("0.00000001"),
)
#: KRIPTO_FEE_RATE in the tests' settings: what a maker buy is sized for.
SIZING_FEE = Decimal("0.005")
#: The fake's rates: taker 0.5%, maker 0.8 of it.
TAKER_FEE, MAKER_FEE = Decimal("0.005"), Decimal("0.004")


@dataclass
class Maker:
    env: WorkflowEnvironment
    settings: Settings
    services: Services
    fake: FakeCoinbase
    #: The handles `start` got: only those skip time while their result is awaited.
    handles: dict[str, WorkflowHandle[TradeWorkflow, Order]] = field(default_factory=dict)
    #: The first worker's exit, while it runs.
    stack: AsyncExitStack | None = None

    async def stop_worker(self) -> None:
        """Stop the fixture's worker (its services stay open for the test's reads)."""
        if self.stack is not None:
            await self.stack.aclose()
            self.stack = None

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[None]:
        """A new worker with services of its own: a restarted process."""
        services = await build_services(self.settings)
        try:
            async with build_worker(self.env.client, self.settings, services):
                yield
        finally:
            await services.close()

    async def start(self, side: Side = Side.BUY, amount: str = "10.00", **kw: Any) -> str:
        key = f"maker-{uuid.uuid4().hex[:10]}"
        request = TradeRequest(trade_type=side, amount=Decimal(amount), product_id="BTC-GBP")
        self.handles[key] = await start_trade_workflow(
            self.env.client, self.settings, request, key, **kw
        )
        return key

    def handle(self, key: str) -> WorkflowHandle[TradeWorkflow, Order]:
        return self.handles[key]

    async def result(self, key: str) -> Order:
        return await self.handle(key).result()

    async def until(self, what: str, check: Callable[[], bool]) -> None:
        async with asyncio.timeout(20):
            while not check():
                await asyncio.sleep(0.02)

    async def resting(self, cid: str) -> None:
        await self.until(f"{cid} rests", lambda: cid in self.fake.server.open_orders())

    def exchange_order(self, cid: str) -> dict[str, Any]:
        order = self.fake.server.order_by_client_id(cid)
        assert order is not None, f"no order {cid} on the exchange"
        return order

    def orders_of(self, key: str) -> list[str]:
        """The client order IDs on the exchange under this trade's key, oldest first."""
        state = self.fake.server.state()["orders"]
        return [o["client_order_id"] for o in state if o["client_order_id"].startswith(key)]

    async def rows(self, key: str) -> list[tuple[str, str, str, Decimal]]:
        """(client order ID, kind, status, filled size) of each order on the books."""
        rows = await self.services.db.pool.fetch(
            "SELECT client_order_id, kind, status, filled_size FROM trade_orders"
            " WHERE trade_id = $1 ORDER BY seq",
            key,
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def fills(self, key: str) -> list[tuple[str, str, Decimal, Decimal]]:
        rows = await self.services.db.pool.fetch(
            "SELECT client_order_id, liquidity, price, size FROM trade_fills"
            " WHERE trade_id = $1 ORDER BY filled_at, fill_id",
            key,
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def trade_row(self, key: str) -> Any:
        return await self.services.db.pool.fetchrow(
            "SELECT settled, filled_size, executed_value, fill_fees, execution, outcome"
            " FROM trades WHERE trade_id = $1",
            key,
        )

    async def receipts(self, key: str) -> list[tuple[str, int]]:
        rows = await self.services.db.pool.fetch(
            "SELECT status, attempts FROM receipts WHERE trade_id = $1", key
        )
        return [(r[0], r[1]) for r in rows]

    async def one_of_everything(self, key: str, order: Order) -> None:
        """One trade row, settled, its figures the sums of its orders' on the exchange; one
        receipt; no order of the trade left resting."""
        row = await self.trade_row(key)
        assert row["settled"] is True
        exchange = [self.exchange_order(c) for c in self.orders_of(key)]
        size = sum((Decimal(o["filled_size"]) for o in exchange), Decimal(0))
        value = sum((Decimal(o["filled_value"]) for o in exchange), Decimal(0))
        fees = sum((Decimal(o["total_fees"]) for o in exchange), Decimal(0))
        assert (row["filled_size"], row["executed_value"], row["fill_fees"]) == (size, value, fees)
        assert (order.filled_size, order.executed_value, order.fill_fees) == (size, value, fees)
        assert await self.receipts(key) == [("sent", 1)]
        assert not [c for c in self.fake.server.open_orders() if c.startswith(key)]
        count = await self.services.db.pool.fetchval(
            "SELECT count(*) FROM trades WHERE trade_id = $1", key
        )
        assert count == 1
        await self.books_match()

    async def books_match(self) -> None:
        """`kripto reconcile`'s workflow: every order of every trade attributed to it."""
        report = await self.env.client.execute_workflow(
            ReconcileWorkflow.run,
            ReconcileRequest(),
            id=f"reconcile-{uuid.uuid4()}",
            task_queue=self.settings.temporal.task_queue,
        )
        assert report.differences == []
        assert report.books_match


@pytest.fixture
async def maker(
    fresh_time_skipping_env: WorkflowEnvironment, settings: Settings, fake_coinbase: FakeCoinbase
) -> AsyncIterator[Maker]:
    """A time-skipping server of the test's own: time skips only while nothing else runs on
    it, and each trade leaves its notification behind."""
    time_skipping_env = fresh_time_skipping_env
    live = settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "coinbase_api_private_key": SecretStr(fake_coinbase.private_key_pem),
            "execution": Execution.MAKER_FIRST,
        }
    )
    fake_coinbase.server.set_book(BID, ASK)
    services = await build_services(live)
    try:
        stack = AsyncExitStack()
        await stack.enter_async_context(build_worker(time_skipping_env.client, live, services))
        made = Maker(time_skipping_env, live, services, fake_coinbase, stack=stack)
        try:
            yield made
        finally:
            await made.stop_worker()
    finally:
        await services.close()


def maker_size(amount: Decimal, price: Decimal) -> Decimal:
    return base_size_for(amount, price, SIZING_FEE, RULES)


async def test_a_full_fill_at_maker(maker: Maker) -> None:
    key = await maker.start()
    await maker.resting(key)
    placed = maker.exchange_order(key)
    assert str(placed["order_configuration"]["limit_limit_gtd"]["post_only"]).lower() == "true"
    size = maker_size(Decimal("10.00"), BID)
    assert size == Decimal("0.00125952")
    maker.fake.server.fill_resting(key)

    order = await maker.result(key)

    assert maker.orders_of(key) == [key]
    assert maker.exchange_order(key)["status"] == "FILLED"
    assert order.filled_size == size
    assert order.executed_value == size * BID
    assert order.fill_fees == size * BID * MAKER_FEE
    assert await maker.rows(key) == [(key, "maker", "filled", size)]
    assert await maker.fills(key) == [(key, "maker", BID, size)]
    row = await maker.trade_row(key)
    assert (row["execution"], row["outcome"]) == ("maker_first", None)
    assert order.executed_value + order.fill_fees <= Decimal("10.00")
    await maker.one_of_everything(key, order)
    receipt = sorted(maker.settings.general.outbox_dir.glob("*.eml"))[-1].read_text()
    assert "maker" in receipt
    assert await maker.handle(key).query(TradeWorkflow.current_step) == "done"


async def test_a_partial_fill_then_a_taker_remainder(maker: Maker) -> None:
    key = await maker.start()
    await maker.resting(key)
    half = Decimal("0.0006")
    maker.fake.server.fill_resting(key, half)

    order = await maker.result(key)  # the window ends; the rest goes as a capped IOC

    assert maker.orders_of(key) == [key, f"{key}-2"]
    first, second = maker.exchange_order(key), maker.exchange_order(f"{key}-2")
    assert (first["status"], Decimal(first["filled_size"])) == ("CANCELLED", half)
    assert second["status"] == "FILLED"
    assert "sor_limit_ioc" in second["order_configuration"]
    rows = await maker.rows(key)
    assert [(c, k, s) for c, k, s, _ in rows] == [
        (key, "maker", "cancelled"),
        (f"{key}-2", "taker", "filled"),
    ]
    fills = await maker.fills(key)
    assert [(c, liq) for c, liq, _, _ in fills] == [(key, "maker"), (f"{key}-2", "taker")]
    assert fills[1][2] == ASK  # the remainder took the best ask, within the cap
    assert order.executed_value + order.fill_fees <= Decimal("10.00")
    await maker.one_of_everything(key, order)
    await record_history(maker.env.client, key, "trade-v4-maker-first")


async def test_a_cross_refusal_then_a_re_quote(maker: Maker) -> None:
    # The book drops while the post-only order is on its way: at 7900.00 it would now take the
    # ask of 7899.00, so Coinbase refuses it; the re-quote rests at the new best bid.
    maker.fake.inject(Fault("slow", seconds=0.5, method="POST", path="/orders"))
    key = await maker.start()
    await maker.until(
        "the create is in flight",
        lambda: any(
            r.startswith("POST") and r.endswith("/orders") for r in maker.fake.server.requests
        ),
    )
    maker.fake.server.set_book(Decimal("7898.00"), Decimal("7899.00"))
    await maker.resting(f"{key}-2")
    assert maker.fake.server.order_by_client_id(key) is None  # refused: nothing placed
    maker.fake.server.fill_resting(f"{key}-2")

    order = await maker.result(key)

    assert maker.orders_of(key) == [f"{key}-2"]
    rows = await maker.rows(key)
    assert [(c, k, s) for c, k, s, _ in rows] == [
        (key, "maker", "crossed"),
        (f"{key}-2", "maker", "filled"),
    ]
    assert await maker.fills(key) == [
        (f"{key}-2", "maker", Decimal("7898.00"), maker_size(Decimal("10.00"), Decimal("7898.00")))
    ]
    await maker.one_of_everything(key, order)


async def test_the_window_running_out_falls_back_to_taker(maker: Maker) -> None:
    key = await maker.start()
    await maker.resting(key)

    order = await maker.result(key)

    assert maker.orders_of(key) == [key, f"{key}-2"]
    assert maker.exchange_order(key)["status"] == "CANCELLED"
    assert Decimal(maker.exchange_order(key)["filled_size"]) == 0
    assert [liq for _, liq, _, _ in await maker.fills(key)] == ["taker"]
    assert order.executed_value + order.fill_fees <= Decimal("10.00")
    await maker.one_of_everything(key, order)


async def test_a_cancel_that_races_a_fill_places_nothing_more(maker: Maker) -> None:
    key = await maker.start()
    await maker.resting(key)
    maker.fake.inject(Fault("fill_before_cancel"))

    order = await maker.result(key)  # the window ends; the cancel finds the order filled

    assert maker.orders_of(key) == [key]
    assert maker.exchange_order(key)["status"] == "FILLED"
    assert [(c, k, s) for c, k, s, _ in await maker.rows(key)] == [(key, "maker", "filled")]
    await maker.one_of_everything(key, order)


async def test_the_touch_moving_away_re_quotes(maker: Maker) -> None:
    key = await maker.start()
    await maker.resting(key)
    maker.fake.server.set_book(Decimal("7910.00"), Decimal("7910.02"))  # 0.13% away

    await maker.env.sleep(20)  # the next look at the order sees it
    await maker.resting(f"{key}-2")
    assert maker.exchange_order(key)["status"] == "CANCELLED"
    maker.fake.server.fill_resting(f"{key}-2")
    order = await maker.result(key)

    assert [(c, k, s) for c, k, s, _ in await maker.rows(key)] == [
        (key, "maker", "cancelled"),
        (f"{key}-2", "maker", "filled"),
    ]
    await maker.one_of_everything(key, order)


async def test_taker_keeps_the_market_order(maker: Maker) -> None:
    key = await maker.start(execution="taker")
    order = await maker.result(key)
    assert maker.orders_of(key) == [key]
    assert "market_market_ioc" in maker.exchange_order(key)["order_configuration"]
    assert order.filled_size > 0


async def test_maker_only_leaves_the_remainder(maker: Maker) -> None:
    key = await maker.start(maker_only=True)
    await maker.resting(key)
    maker.fake.server.fill_resting(key, Decimal("0.0005"))
    order = await maker.result(key)
    assert maker.orders_of(key) == [key]
    assert order.filled_size == Decimal("0.0005")
    row = await maker.trade_row(key)
    assert row["outcome"] == "maker only (--maker-only): the remainder was not traded"


async def test_a_stale_quote_goes_taker_and_says_so(maker: Maker) -> None:
    """The best bid/ask is a minute old (KRIPTO_QUOTE_MAX_AGE is 5 s): with
    KRIPTO_STALE_QUOTE=taker the trade places no maker order and takes, capped."""
    maker.fake.server.now = datetime.now(UTC) - timedelta(minutes=1)
    key = await maker.start()
    order = await maker.result(key)
    assert [(c, k) for c, k, _, _ in await maker.rows(key)] == [(key, "taker")]
    row = await maker.trade_row(key)
    assert row["outcome"].startswith("stale quote (the best bid/ask is 60.")
    assert row["outcome"].endswith("s old (KRIPTO_QUOTE_MAX_AGE is 5s)): taker, capped")
    assert order.filled_size > 0
    await maker.one_of_everything(key, order)
