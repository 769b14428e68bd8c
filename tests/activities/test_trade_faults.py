"""Only the exchange's verdict ends a placed trade: every exchange error after the create may have
gone out is retried until the trade completes, with exactly one order, one trade row and one
receipt, and the guards count the trade's amount at every failed attempt.

The trade's steps run as the workflow runs them (place, settle, record, receipt), each retried
here as Temporal would retry it, against the fake Coinbase server with a fault at one point.
`KRIPTO_FAULT_TABLE=path` writes the table of fault point, error and outcome there."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.trading import TradeActivities, TradeLimits
from kripto.db import Database, connect
from kripto.db.trades import TradeRepository
from kripto.exchanges.coinbase import CoinbaseExchange
from kripto.mail.outbox import OutboxMailer
from kripto.models import Order, PlacedOrder, Side, TradeRequest, TradeStep
from kripto.notify.events import Notify
from kripto.receipts import ReceiptService
from kripto.risk import PastTrade
from tests.conftest import with_database
from tests.fakes.coinbase_fixtures import FakeCoinbase
from tests.fakes.coinbase_server import Fault

T = TypeVar("T")
KEY = "trade-faults-1"
REQUEST = TradeRequest(trade_type=Side.BUY, amount=Decimal("10.00"), product_id="BTC-GBP")
#: What the seed's £10.00 buy cost, fees included: what the guards count once it settled.
SPENT = Decimal("9.9502205952") + Decimal("0.049751102976")

#: The errors injected at each point: HTTP statuses, a dropped connection, a reply too late.
ERRORS = ("400", "408", "409", "401", "403", "429", "500", "drop", "timeout")
#: Where: (name, method, path, the step before which the fault is queued).
POINTS = {
    "create reply (order created)": ("POST", "/orders", "place"),
    "get order after the create": ("GET", "/orders/historical/{id}", "place"),
    "look-up on the retry": ("GET", "/orders/historical/batch", "retry"),
    "settlement read": ("GET", "/orders/historical/{id}", "settle"),
    "write_trade's read": ("GET", "/orders/historical/{id}", "record"),
}
OUTCOMES: dict[tuple[str, str], str] = {}


def fault(error: str, method: str, path: str) -> Fault:
    if error == "timeout":  # the request is handled (an order is created); the reply is late
        return Fault("hang", seconds=0.4, method=method, path=path)
    if error == "drop":
        return Fault("drop", method=method, path=path)
    # "after": the request is handled first, so a create's order exists when the error comes.
    return Fault(error, method=method, path=path, after=True, retry_after=None)


@pytest.fixture(scope="module", autouse=True)
def fault_table() -> Iterator[None]:
    yield
    target = os.environ.get("KRIPTO_FAULT_TABLE")
    if target and OUTCOMES:
        lines = ["| fault point | error | outcome |", "|---|---|---|"]
        lines += [f"| {point} | {error} | {out} |" for (point, error), out in OUTCOMES.items()]
        Path(target).write_text("\n".join(lines) + "\n")


@dataclasses.dataclass
class Steps:
    activities: TradeActivities
    trades: TradeRepository
    exchange: CoinbaseExchange
    fake: FakeCoinbase
    db: Database
    outbox: Path
    failures: int = 0

    async def guards_count(self) -> Decimal:
        """What the cooldown and the daily limit count for today's GBP trades."""
        since = datetime.now(UTC) - timedelta(days=1)
        return sum(
            (PastTrade.of(t).gbp for t in await self.trades.since(since, quote="GBP")), Decimal(0)
        )

    async def retried(
        self,
        run: Callable[[], Awaitable[T]],
        env: ActivityEnvironment,
        on_failure: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        """Run a step as Temporal does: again after each retryable failure, never after a
        final one; while it fails, the trade must be on the books at its full amount."""
        for attempt in range(1, 20):
            env.info = dataclasses.replace(env.info, attempt=attempt)
            try:
                return await run()
            except ApplicationError as err:
                assert not err.non_retryable, f"the trade was failed: {err}"
                self.failures += 1
                assert await self.trades.count() == 1
                assert await self.guards_count() == Decimal("10.00")
                if on_failure is not None:
                    await on_failure()
        raise AssertionError("still failing after 19 attempts")


@pytest.fixture(scope="module")
async def books(pg_server_url: str) -> AsyncIterator[Database]:
    """One migrated database for the module (its cases are many and each is short); each case
    starts from empty books (see `steps`)."""
    name = f"kripto_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    database = await connect(with_database(pg_server_url, name))
    try:
        yield database
    finally:
        await database.close()
        admin = await asyncpg.connect(pg_server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def steps(
    books: Database, fake_coinbase: FakeCoinbase, tmp_path: Path
) -> AsyncIterator[Steps]:
    db = books
    await db.pool.execute("TRUNCATE trades, trade_keys, receipts, trade_orders, trade_fills")
    exchange = CoinbaseExchange(
        base_url=fake_coinbase.url,
        key_name=fake_coinbase.key_name,
        private_key_pem=fake_coinbase.private_key_pem,
        timeout=0.2,
    )
    trades = TradeRepository(db)
    receipts = ReceiptService(
        db, OutboxMailer(tmp_path / "outbox"), to="t@example.com", sender="k@example.com"
    )
    limits = TradeLimits(Decimal("1000"), ("BTC-GBP",), settle_poll_seconds=0.01)
    fake_coinbase.server.settle_after = 2  # placing reads it OPEN; the settlement read, FILLED
    try:
        yield Steps(
            TradeActivities(exchange, trades, receipts, limits),
            trades,
            exchange,
            fake_coinbase,
            db,
            tmp_path / "outbox",
        )
    finally:
        await exchange.close()


async def run_trade(
    steps: Steps, inject: Callable[[str], None], activities: TradeActivities | None = None
) -> Order:
    """The workflow's steps in order, each retried until it succeeds."""
    act = activities or steps.activities
    env = ActivityEnvironment()
    inject("place")
    step = TradeStep(trade_id=KEY, request=REQUEST)

    async def retry_faults() -> None:
        inject("retry")

    placed = await steps.retried(lambda: env.run(act.place_order, step), env, retry_faults)
    assert await steps.guards_count() == Decimal("10.00")
    ref = PlacedOrder(trade_id=KEY, order_id=placed.id)
    order: Order = placed
    inject("settle")
    while not order.settled:
        order = await steps.retried(lambda: env.run(act.await_settlement, ref), env)
    inject("record")
    await steps.retried(lambda: env.run(act.write_trade, ref), env)
    await steps.retried(lambda: env.run(act.send_receipt, ref), env)
    return order


async def assert_one_of_everything(steps: Steps) -> None:
    assert steps.fake.order_count() == 1
    [row] = await steps.trades.recent()
    assert (row.client_order_id, row.settled) == (KEY, True)
    assert row.id == steps.fake.state()["orders"][0]["order_id"]
    assert row.filled_size == Decimal("0.00125952")
    assert await steps.guards_count() == SPENT
    receipts = await steps.db.pool.fetch("SELECT trade_id, status, attempts FROM receipts")
    assert [(r["trade_id"], r["status"], r["attempts"]) for r in receipts] == [(KEY, "sent", 1)]
    assert len(list(steps.outbox.glob("*.eml"))) == 1
    assert await steps.db.pool.fetchval("SELECT count(*) FROM trade_keys") == 1


@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("point", list(POINTS))
async def test_an_error_after_the_create_may_have_gone_out_is_waited_out(
    steps: Steps, point: str, error: str
) -> None:
    method, path, when = POINTS[point]
    queued: set[str] = set()

    def inject(step: str) -> None:
        if step == when and step not in queued:
            queued.add(step)
            steps.fake.inject(fault(error, method, path))

    if when == "retry":
        # The create fails first (the order is made, the reply is a 500); the look-up that the
        # retry starts with then fails with the error.
        steps.fake.inject(Fault("500", method="POST", path="/orders", after=True))

    await run_trade(steps, inject)
    await assert_one_of_everything(steps)
    assert steps.failures >= 1
    OUTCOMES[(point, error)] = (
        f"retried ({steps.failures} failed attempts), then done: 1 order, 1 row, 1 receipt"
    )


async def test_a_create_refused_as_a_duplicate_looks_the_order_up_and_carries_on(
    steps: Steps,
) -> None:
    def inject(step: str) -> None:
        if step == "place":
            steps.fake.inject(Fault("duplicate"))

    order = await run_trade(steps, inject)
    await assert_one_of_everything(steps)
    assert order.client_order_id == KEY
    assert steps.failures == 0  # the refusal is read as "look it up", not as a failure
    posts = [r for r in steps.fake.server.requests if r.startswith("POST")]
    assert len(posts) == 1
    OUTCOMES[("create reply", "duplicate client_order_id (success: false)")] = (
        "looked up, then done: 1 order, 1 row, 1 receipt (no failed attempt)"
    )


async def test_lowering_the_limit_and_removing_the_product_mid_wait_fail_nothing(
    steps: Steps,
) -> None:
    """The key was claimed under the old settings; a retry (or a restarted worker) with a
    lower KRIPTO_MAX_TRADE_GBP and without the product carries on with the live order."""
    steps.fake.inject(Fault("500", method="GET", path="/orders/historical/{id}", after=True))
    env = ActivityEnvironment()
    step = TradeStep(trade_id=KEY, request=REQUEST)
    with pytest.raises(ApplicationError) as caught:
        await env.run(steps.activities.place_order, step)
    assert not caught.value.non_retryable
    assert steps.fake.order_count() == 1
    assert await steps.guards_count() == Decimal("10.00")

    strict = TradeActivities(
        steps.exchange,
        steps.trades,
        steps.activities.receipts,
        TradeLimits(Decimal("5"), ("ETH-GBP",), settle_poll_seconds=0.01),
    )
    await run_trade(steps, lambda step: None, strict)
    await assert_one_of_everything(steps)
    OUTCOMES[("mid-wait settings", "limit lowered to £5, BTC-GBP removed")] = (
        "carried on: 1 order, 1 row, 1 receipt"
    )


@pytest.mark.parametrize(
    ("verdict", "error_type", "rows", "keys"),
    [
        ("INSUFFICIENT_FUND refusal", "InsufficientFunds", 0, 0),
        ("order ended with nothing filled", "OrderRejected", 0, 1),
    ],
)
async def test_only_the_exchanges_verdict_fails_a_trade(
    steps: Steps, verdict: str, error_type: str, rows: int, keys: int
) -> None:
    env = ActivityEnvironment()
    step = TradeStep(trade_id=KEY, request=REQUEST)
    steps.fake.inject(Fault("insufficient" if error_type == "InsufficientFunds" else "no_fill"))
    with pytest.raises(ApplicationError) as caught:
        await env.run(steps.activities.place_order, step)
    assert caught.value.non_retryable
    assert caught.value.type == error_type
    assert await steps.trades.count() == rows
    assert await steps.db.pool.fetchval("SELECT count(*) FROM trade_keys") == keys
    assert await steps.guards_count() == Decimal(0)
    OUTCOMES[("exchange's verdict", verdict)] = (
        f"failed ({error_type}): {rows} rows, key {'kept' if keys else 'released'}"
    )


async def test_a_wait_on_errors_past_ten_minutes_is_announced_once(steps: Steps) -> None:
    """Past KriptoTradeWaitingOnErrors' 10 minutes the wait is news for the phone too: one
    notification per trade and step, however many attempts fail after it."""
    sent: list[Notify] = []

    async def announce(event: Notify) -> None:
        sent.append(event)

    act = TradeActivities(
        steps.activities.exchange,
        steps.trades,
        steps.activities.receipts,
        steps.activities.limits,
        announce=announce,
    )
    env = ActivityEnvironment()
    placed = await env.run(act.place_order, TradeStep(trade_id=KEY, request=REQUEST))
    ref = PlacedOrder(trade_id=KEY, order_id=placed.id)
    # The settlement's first attempt was scheduled 11 minutes ago; its reads keep failing.
    env.info = dataclasses.replace(
        env.info, scheduled_time=datetime.now(UTC) - timedelta(minutes=11)
    )
    for attempt in (7, 8, 9):
        env.info = dataclasses.replace(env.info, attempt=attempt)
        steps.fake.inject(fault("500", "GET", "/orders/historical/{id}"))
        with pytest.raises(ApplicationError):
            await env.run(act.await_settlement, ref)

    async def announced() -> bool:
        return len(sent) == 1

    async with asyncio.timeout(5):
        while not await announced():
            await asyncio.sleep(0.01)
    [event] = sent
    assert (event.key, event.kind) == (f"alert-waiting-{KEY}-settle", "alert")
    assert event.title == f"Trade {KEY} has waited on errors for 11 minutes"
    assert event.text.startswith("step settle, attempt 7: ")
    assert await steps.trades.count() == 1  # still on the books, unsettled


async def test_a_refusal_after_a_missed_look_up_keeps_the_claim_and_the_row(steps: Steps) -> None:
    """Issue 25 item 4: the first attempt's create places the order and its reply is lost; the
    retry's look-up misses it and its create is refused for funds. The refusal is no verdict
    on the first attempt's order: the claim and the row stay, the step is retried, and the
    next look-up finds the order and the trade completes once."""
    env = ActivityEnvironment()
    step = TradeStep(trade_id=KEY, request=REQUEST)
    steps.fake.inject(Fault("500", method="POST", path="/orders", after=True))
    with pytest.raises(ApplicationError) as caught:
        await env.run(steps.activities.place_order, step)
    assert not caught.value.non_retryable
    assert steps.fake.order_count() == 1

    # The look-up misses: a newer order (placed in Coinbase's app) fills the one page read.
    steps.fake.server.create_order_directly("placed-by-hand", "5.00")
    page_size = steps.fake.server.page_size
    steps.fake.server.page_size, steps.exchange.lookup_pages = 1, 1
    steps.fake.inject(Fault("insufficient"))
    env.info = dataclasses.replace(env.info, attempt=2)
    with pytest.raises(ApplicationError) as caught:
        await env.run(steps.activities.place_order, step)
    assert not caught.value.non_retryable, "a refusal after a sent create must not end the trade"
    assert "an earlier attempt sent it" in str(caught.value)
    assert await steps.db.pool.fetchval("SELECT count(*) FROM trade_keys") == 1
    assert await steps.trades.count() == 1
    assert await steps.guards_count() == Decimal("10.00")

    steps.fake.server.page_size, steps.exchange.lookup_pages = page_size, 10
    env.info = dataclasses.replace(env.info, attempt=3)
    placed = await env.run(steps.activities.place_order, step)
    ref = PlacedOrder(trade_id=KEY, order_id=placed.id)
    order: Order = placed
    while not order.settled:
        order = await env.run(steps.activities.await_settlement, ref)
    await env.run(steps.activities.write_trade, ref)
    await env.run(steps.activities.send_receipt, ref)
    mine = [o for o in steps.fake.state()["orders"] if o["client_order_id"] == KEY]
    assert len(mine) == 1
    [row] = await steps.trades.recent()
    assert (row.id, row.settled, row.filled_size) == (
        mine[0]["order_id"],
        True,
        Decimal("0.00125952"),
    )
    assert await steps.guards_count() == SPENT
    assert len(list(steps.outbox.glob("*.eml"))) == 1
    OUTCOMES[("retry's look-up misses, its create refused for funds", "INSUFFICIENT_FUND")] = (
        "claim and row kept, retried; then done: 1 order, 1 row, 1 receipt"
    )


async def test_a_look_up_that_pages_heartbeats(steps: Steps) -> None:
    """`place_order` heartbeats while the exchange pages its look-up (slow pages here)."""
    from activities import trading

    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    old = trading.HEARTBEAT_SECONDS
    trading.HEARTBEAT_SECONDS = 0.05
    try:
        steps.fake.inject(
            Fault("slow", seconds=0.15, method="GET", path="/orders/historical/batch")
        )
        await env.run(steps.activities.place_order, TradeStep(trade_id=KEY, request=REQUEST))
    finally:
        trading.HEARTBEAT_SECONDS = old
    assert any(d == (f"looking up and placing {KEY}",) for d in beats)
