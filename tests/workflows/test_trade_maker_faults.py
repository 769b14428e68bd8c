"""Faults at each maker-first step (docs/execution.md), through the TradeWorkflow on the
time-skipping server against the fake Coinbase: a reply lost after the exchange acted (an
HTTP 500 once the request was handled, or the connection dropped), and Postgres refusing
connections. Each case ends with 1 trade, at most 1 live
order of it at any moment (sampled all along), books that match (`kripto reconcile`'s
workflow) and 1 receipt. (A worker SIGKILL and a Temporal restart need real processes and a
persistent server: not here.)

`KRIPTO_FAULT_TABLE=path` writes the table of step, fault and outcome there."""

# ruff: noqa: F811 (the `maker` fixture is imported, and named by the tests' parameters)

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from kripto.settings import Settings
from tests.conftest import with_database
from tests.fakes.coinbase_server import Fault
from tests.workflows.test_trade_maker_first import Maker, maker  # noqa: F401

#: The maker-first steps, each with the request its fault hits and the scenario around it.
STEPS = {
    "after the post-only is sent": ("POST", "/orders"),
    "after its fill": ("GET", "/orders/historical/{id}"),
    "mid-requote": ("POST", "/orders/batch_cancel"),
    "mid-cancel": ("POST", "/orders/batch_cancel"),
    "mid-fallback": ("POST", "/orders"),
}
FAULTS = ("500 after handling", "connection dropped", "Postgres down")
OUTCOMES: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module", autouse=True)
def fault_table() -> Iterator[None]:
    yield
    target = os.environ.get("KRIPTO_FAULT_TABLE")
    if target and OUTCOMES:
        lines = ["| maker-first step | fault | outcome |", "|---|---|---|"]
        lines += [f"| {step} | {fault} | {out} |" for (step, fault), out in OUTCOMES.items()]
        Path(target).write_text("\n".join(lines) + "\n")


class LiveOrders:
    """Samples the trade's resting orders on the exchange while the test runs."""

    def __init__(self, maker: Maker, key: str) -> None:
        self.maker, self.key, self.most = maker, key, 0
        self.task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            live = [c for c in self.maker.fake.server.open_orders() if c.startswith(self.key)]
            self.most = max(self.most, len(live))
            await asyncio.sleep(0.002)

    def __enter__(self) -> LiveOrders:
        self.task = asyncio.ensure_future(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()


@asynccontextmanager
async def postgres_down(settings: Settings) -> AsyncIterator[None]:
    """The trade's database refuses connections, and the open ones are cut."""
    url = settings.general.database_url
    assert url is not None
    # The embedded server's URL names its socket folder in the query (`?host=/tmp/…`), so
    # the database is the URL's path, not what follows its last slash.
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


def fault_of(kind: str, method: str, path: str) -> Fault:
    if kind == "connection dropped":
        return Fault("drop", method=method, path=path)
    return Fault("500", method=method, path=path, after=True)


async def act(maker: Maker, key: str, step: str, kind: str) -> None:
    """Drive the trade to the step, then put the fault on the step's request."""
    method, path = STEPS[step]
    server = maker.fake.server

    def inject() -> None:
        if kind != "Postgres down":
            maker.fake.inject(fault_of(kind, method, path))

    if step == "after the post-only is sent":
        inject()
        await maker.resting(key)
        server.fill_resting(key)
    elif step == "after its fill":
        await maker.resting(key)
        server.fill_resting(key)
        inject()  # the next read of the order, which is filled
    elif step == "mid-requote":
        await maker.resting(key)
        inject()  # the cancel of the re-quote
        server.set_book(Decimal("7910.00"), Decimal("7910.02"))
        await maker.env.sleep(20)
        await maker.resting(f"{key}-2")
        server.fill_resting(f"{key}-2")
    elif step == "mid-cancel":
        await maker.resting(key)
        server.fill_resting(key, Decimal("0.0004"))
        inject()  # the cancel at the window's end
    else:  # mid-fallback: nothing fills; the window's cancel passes, the IOC create is hit
        await maker.resting(key)
        if kind != "Postgres down":
            maker.fake.inject(Fault("slow", seconds=0.0, method="POST", path="/orders"))
            inject()


#: Postgres down at two steps (the outage's retries are the same code at every step), the
#: lost replies at all five: the suite's time is shared.
CASES = [(step, kind) for step in STEPS for kind in FAULTS[:2]] + [
    ("after the post-only is sent", "Postgres down"),
    ("mid-cancel", "Postgres down"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("step", "kind"), CASES)
async def test_a_fault_at_each_maker_step_leaves_one_trade(
    maker: Maker, step: str, kind: str
) -> None:
    key = await maker.start()
    with LiveOrders(maker, key) as live:
        await act(maker, key, step, kind)
        if kind == "Postgres down":
            # From this step on, for a while: the steps due fail and are retried.
            result = asyncio.ensure_future(maker.result(key))
            async with postgres_down(maker.settings):
                await asyncio.sleep(1.5)
            order = await result
        else:
            order = await maker.result(key)
    assert live.most <= 1
    await maker.one_of_everything(key, order)
    assert order.executed_value + order.fill_fees <= Decimal("10.00")
    placed = maker.orders_of(key)
    ids = ", ".join(o.removeprefix(key) or "<key>" for o in placed)
    OUTCOMES[(step, kind)] = (
        f"done: 1 trade, {len(placed)} order(s) ({ids}), at most {live.most} live,"
        " books match, 1 receipt"
    )
