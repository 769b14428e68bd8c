"""`kripto dev`: Postgres, Temporal, migrations, a worker and the schedules, under one data folder,
stopped together on Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import asyncpg
from rich.console import Console
from rich.panel import Panel

from kripto.devstack.lock import DataDirLock
from kripto.devstack.postgres import EmbeddedPostgres
from kripto.devstack.temporal import StartupError, TemporalDevServer
from kripto.feeds.coinbase import CoinbaseSpotFeed
from kripto.metrics import health_url, metrics_runtime, metrics_url
from kripto.settings import Settings
from kripto.temporal.client import connect_client
from kripto.temporal.schedules import ensure_schedules
from kripto.temporal.worker import run_worker

log = logging.getLogger(__name__)
FeedChoice = Literal["auto", "coinbase", "simulated"]


@dataclass(frozen=True)
class DevOptions:
    data_dir: Path
    port: int = 7233
    ui_port: int = 8233
    every: timedelta | None = None
    feed: FeedChoice = "auto"


async def coinbase_answers(settings: Settings, product_id: str) -> bool:
    feed = CoinbaseSpotFeed(settings.coinbase_url, timeout=3.0)
    try:
        await feed.rate(product_id, datetime.now(tz=UTC))
        return True
    except Exception:
        return False
    finally:
        await feed.close()


async def ensure_database(server_url: str, name: str = "kripto") -> str:
    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.replace("/postgres?", f"/{name}?", 1)


def write_dev_env(path: Path, values: dict[str, str]) -> None:
    """Tell the other kripto commands in this folder where the dev stack is.

    Only what `kripto dev` itself decided goes here (addresses, the data folder, the feed it
    chose): a copy of the user's own settings would outlive the user's next change to `.env`.
    Written whole, then renamed into place, so a reader never sees half a file."""
    lines = [
        "# Written by `kripto dev`; other kripto commands in this folder read it.",
        "# Your own .env and environment variables win over anything here.",
    ]
    lines += [f"{key}={value}" for key, value in values.items()]
    partial = path.with_name(path.name + ".tmp")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class DevStack:
    def __init__(self, options: DevOptions, base: Settings, console: Console) -> None:
        self.options = options
        self.base = base
        self.console = console

    def run(self) -> None:
        # Until the event loop takes over, SIGTERM unwinds like Ctrl-C, so what started is stopped.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        data = self.options.data_dir.resolve()
        data.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            lock = DataDirLock(data)
            lock.acquire()
            stack.callback(lock.release)
            postgres = EmbeddedPostgres(data / "postgres")
            self.console.print(f"starting Postgres in {postgres.pgdata}")
            server_url = postgres.start()
            stack.callback(postgres.stop)
            temporal = TemporalDevServer(data, self.options.port, self.options.ui_port)
            self.console.print(f"starting Temporal on {temporal.address}")
            temporal.start()
            stack.callback(temporal.stop)
            asyncio.run(self._serve(data, server_url, temporal))

    async def _serve(self, data: Path, server_url: str, temporal: TemporalDevServer) -> None:
        database_url = await ensure_database(server_url)
        feed = await self._choose_feed()
        settings = self.base.model_copy(
            update={
                "data_dir": data,
                "temporal_address": temporal.address,
                "database_url": database_url,
                "feed": feed,
                "schedule_every": self.options.every,
            }
        )
        env = {
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "KRIPTO_DATABASE_URL": database_url,
            "KRIPTO_DATA_DIR": str(data),
            "KRIPTO_FEED": feed,
        }
        if self.options.every is not None:
            env["KRIPTO_SCHEDULE_EVERY"] = f"{int(self.options.every.total_seconds())}s"
        # For people and scripts: where to look. (Not settings: a second worker started in
        # this folder needs its own ports.)
        if (url := metrics_url(settings)) is not None:
            env["KRIPTO_METRICS_URL"] = url
        if (url := health_url(settings)) is not None:
            env["KRIPTO_HEALTH_URL"] = url
        write_dev_env(data / "dev.env", env)

        client = await connect_client(settings, runtime=metrics_runtime(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # The dev stack runs one build, so its worker's build is current whatever ran before.
        worker = asyncio.create_task(
            run_worker(client, settings, stop, take_over=True, announce=self.console.print)
        )
        outcomes = await ensure_schedules(client, settings)
        self._banner(settings, temporal, outcomes)
        await worker
        self.console.print("stopped the worker; stopping Temporal and Postgres")

    async def _choose_feed(self) -> Literal["coinbase", "simulated"]:
        choice = self.options.feed
        if choice != "auto":
            return choice
        if await coinbase_answers(self.base, self.base.products[0]):
            return "coinbase"
        if self.base.exchange != "paper":
            raise StartupError(
                "Coinbase cannot be reached and the simulated feed is for paper trading only"
            )
        self.console.print(
            Panel(
                "Coinbase cannot be reached: using the SIMULATED rate feed.\n"
                "Every stored rate is marked `simulated`; none of them are real prices.",
                title="WARNING",
                style="bold red",
            )
        )
        return "simulated"

    def _banner(
        self, settings: Settings, temporal: TemporalDevServer, outcomes: Mapping[str, str]
    ) -> None:
        cadence = (
            f"every {settings.schedule_every.total_seconds():g}s"
            if settings.schedule_every
            else f"cron '{settings.schedule_cron}'"
        )
        schedules = ", ".join(f"kripto-rates-{p} ({o})" for p, o in outcomes.items())
        self.console.print(
            Panel(
                f"Web UI      {temporal.ui_url}\n"
                f"Temporal    {temporal.address} (namespace {settings.temporal_namespace})\n"
                f"Postgres    {settings.database_url}\n"
                f"Running     worker on task queue '{settings.task_queue}', feed"
                f" '{settings.feed}', exchange '{settings.exchange}'\n"
                f"Schedules   {schedules}, {cadence}\n"
                f"Metrics     {metrics_url(settings) or 'off'}\n"
                f"Health      {health_url(settings) or 'off'}\n"
                f"Settings    {settings.data_dir / 'dev.env'}\n"
                "Stop        Ctrl-C (or SIGTERM) stops everything started here",
                title="kripto dev",
            )
        )
