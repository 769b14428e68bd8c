"""`kripto dev`: Postgres, Temporal, migrations, a worker and the schedules, under one data folder,
stopped together on Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import asyncpg
from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel

from kripto.dashboard.server import login_url, serve_dashboard
from kripto.db import connect
from kripto.db.rates import RateRepository
from kripto.devstack.coldstart import backfill_week, fill_to_first_tick
from kripto.devstack.lock import DataDirLock
from kripto.devstack.postgres import EmbeddedPostgres
from kripto.devstack.temporal import StartupError, TemporalDevServer, port_is_free
from kripto.devstack.ui_proxy import serve_ui_proxy
from kripto.devstack.warmup import first_decision
from kripto.feeds.coinbase import CoinbaseSpotFeed
from kripto.metrics import health_url, metrics_runtime, metrics_url
from kripto.runtime.codec_server import codec_url
from kripto.runtime.codec_server import serve as serve_codec
from kripto.runtime.schedules import ensure_reconcile_schedule, ensure_schedules, first_tick
from kripto.runtime.worker import run_worker
from kripto.settings import DASHBOARD_TOKEN_FILE, STOP_LINK_SECRET_FILE, Settings
from kripto.temporal.client import connect_client

log = logging.getLogger(__name__)
FeedChoice = Literal["auto", "coinbase", "simulated"]


@dataclass(frozen=True)
class DevOptions:
    data_dir: Path
    port: int = 7233
    ui_port: int = 8233
    every: timedelta | None = None
    feed: FeedChoice = "auto"
    encrypt: bool = False
    #: None: KRIPTO_DASHBOARD_PORT (8237).
    dashboard_port: int | None = None


async def coinbase_answers(settings: Settings, product_id: str) -> bool:
    feed = CoinbaseSpotFeed(settings.exchange.coinbase_url, timeout=3.0)
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


KEYS_FILE = "encryption.keys"
CODEC_TOKEN_FILE = "codec.token"


def _secret_file(path: Path, make: Callable[[], str]) -> Path:
    """A file only its owner can read (0600), made on first use and kept after that: a key that
    changed on every start would leave earlier payloads unreadable."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(make() + "\n")
    path.chmod(0o600)
    return path


def with_dev_encryption(base: Settings, data: Path, ui_port: int) -> Settings:
    """`kripto dev --encrypt`: the user's own keys and token if set, else the data folder's
    (made on first use); the codec server answers the dev server's UI."""
    from kripto.temporal.codec import new_key_line

    update: dict[str, object] = {"codec_ui_origin": f"http://127.0.0.1:{ui_port}"}
    if base.encryption.encryption_keys is None:
        keys = _secret_file(data / KEYS_FILE, lambda: new_key_line("dev-1"))
        update["encryption_keys"] = SecretStr(",".join(keys.read_text().split()))
    if base.encryption.codec_token is None:
        token = _secret_file(data / CODEC_TOKEN_FILE, lambda: secrets.token_urlsafe(32))
        update["codec_token"] = SecretStr(token.read_text().strip())
    settings = base.model_copy(update=update)
    from kripto.temporal.codec import parse_keys

    if settings.encryption.encryption_keys is not None:
        parse_keys(
            settings.encryption.encryption_keys.get_secret_value()
        )  # a hand-edited file, say
    return settings


def data_dir_secret(path: Path) -> SecretStr:
    """A secret kept in the data folder (the dashboard token, the stop-link secret): made once,
    readable by its owner only, and the same on every later `kripto dev` in that folder."""
    return SecretStr(_secret_file(path, lambda: secrets.token_urlsafe(32)).read_text().strip())


def close_data_dir(data: Path) -> None:
    """The data folder holds Temporal's history, Postgres and the secrets' files: owner only
    (0700), and Temporal's SQLite files 0600 (SQLite gives its -wal and -shm files the database
    file's mode; Temporal runs with umask 077, so new ones are made so). Run as root, the
    embedded Postgres runs as a user of its own, who must pass through the folder: then 0711
    (through, but not list it)."""
    data.chmod(0o711 if os.geteuid() == 0 else 0o700)
    for path in data.glob("temporal.db*"):
        path.chmod(0o600)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class DevStack:
    def __init__(self, options: DevOptions, base: Settings, console: Console) -> None:
        self.options = options
        self.base = base
        self.console = console
        #: Where other kripto commands find the dev keys and token (files, never the values).
        self.encryption_env: dict[str, str] = {}

    def run(self) -> None:
        # Until the event loop takes over, SIGTERM unwinds like Ctrl-C, so what started is stopped.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        data = self.options.data_dir.resolve()
        data.mkdir(parents=True, exist_ok=True)
        close_data_dir(data)
        with ExitStack() as stack:
            lock = DataDirLock(data)
            lock.acquire()
            stack.callback(lock.release)
            postgres = EmbeddedPostgres(data / "postgres")
            self.console.print(f"starting Postgres in {postgres.pgdata}")
            server_url = postgres.start()
            stack.callback(postgres.stop)
            close_data_dir(data)  # as root, starting Postgres opened it for the server's user
            codec_endpoint = None
            if self.options.encrypt:
                user_keys = self.base.encryption.encryption_keys is not None
                user_token = self.base.encryption.codec_token is not None
                self.base = with_dev_encryption(self.base, data, self.options.ui_port)
                if not user_keys:
                    self.encryption_env["KRIPTO_ENCRYPTION_KEYS_FILE"] = str(data / KEYS_FILE)
                if not user_token:
                    self.encryption_env["KRIPTO_CODEC_TOKEN_FILE"] = str(data / CODEC_TOKEN_FILE)
                self.encryption_env["KRIPTO_CODEC_UI_ORIGIN"] = self.base.encryption.codec_ui_origin
                codec_endpoint = codec_url(self.base)
                if not port_is_free(
                    self.base.encryption.codec_port, self.base.encryption.codec_host
                ):
                    raise StartupError(
                        f"KRIPTO_CODEC_PORT {self.base.encryption.codec_port} is already in use;"
                        " choose another with KRIPTO_CODEC_PORT"
                    )
            temporal = TemporalDevServer(
                data, self.options.port, self.options.ui_port, codec_endpoint
            )
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
                "temporal_ui_url": temporal.ui_url,
                "dashboard_port": self.options.dashboard_port or self.base.dashboard.dashboard_port,
                # The user's own settings win; else the data folder's, made on first start.
                "dashboard_token": self.base.dashboard.dashboard_token
                or data_dir_secret(data / DASHBOARD_TOKEN_FILE),
                "stop_link_secret": self.base.dashboard.stop_link_secret
                or data_dir_secret(data / STOP_LINK_SECRET_FILE),
            }
        )
        env = {
            "TEMPORAL_ADDRESS": settings.temporal.temporal_address,
            "KRIPTO_DATABASE_URL": database_url,
            "KRIPTO_DATA_DIR": str(data),
            "KRIPTO_FEED": feed,
            "KRIPTO_TEMPORAL_UI_URL": temporal.ui_url,
            "KRIPTO_DASHBOARD_PORT": str(settings.dashboard.dashboard_port),
            # For people and scripts; no setting reads it (KRIPTO_PUBLIC_URL is the setting).
            "KRIPTO_DASHBOARD_URL": settings.dashboard.dashboard_url,
        }
        if self.options.every is not None:
            env["KRIPTO_SCHEDULE_EVERY"] = f"{int(self.options.every.total_seconds())}s"
        if self.options.encrypt:
            env.update(self.encryption_env)
        # For people and scripts: where to look. (Not settings: a second worker started in
        # this folder needs its own ports.)
        if (url := metrics_url(settings)) is not None:
            env["KRIPTO_METRICS_URL"] = url
        if (url := health_url(settings)) is not None:
            env["KRIPTO_HEALTH_URL"] = url
        write_dev_env(data / "dev.env", env)
        codec: asyncio.Task[None] | None = None
        if self.options.encrypt:
            listening = asyncio.Event()
            codec = asyncio.create_task(serve_codec(settings, started=listening.set))
            waiter = asyncio.create_task(listening.wait())
            await asyncio.wait([codec, waiter], return_when=asyncio.FIRST_COMPLETED)
            if codec.done():
                waiter.cancel()
                await codec  # raises why it could not listen

        client = await connect_client(settings, runtime=metrics_runtime(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # The Web UI, published through its Host-checking proxy (kripto.devstack.ui_proxy).
        ui_up = asyncio.Event()
        ui_proxy = asyncio.create_task(
            serve_ui_proxy(temporal.ui_upstream, temporal.ui_port, stop, started=ui_up.set)
        )
        await asyncio.wait(
            {asyncio.create_task(ui_up.wait()), ui_proxy}, return_when="FIRST_COMPLETED"
        )
        if ui_proxy.done():
            ui_proxy.result()  # raises why it could not listen
        # The dev stack runs one build, so its worker's build is current whatever ran before.
        worker = asyncio.create_task(
            run_worker(client, settings, stop, take_over=True, announce=self.console.print)
        )
        dashboard_up = asyncio.Event()
        dashboard = asyncio.create_task(
            serve_dashboard(settings, client, stop, started=dashboard_up.set)
        )
        # History before the first tick: the strategy decides from the first tick, not a day on.
        db = await connect(database_url)
        try:
            backfilled_to = datetime.now(UTC)
            history = await backfill_week(client, db, settings, feed)
            outcomes = await ensure_schedules(client, settings)
            await ensure_reconcile_schedule(client, settings)
            # And the minutes from the backfill's end to the first tick's, so none is missing.
            await fill_to_first_tick(
                client, db, settings, feed, backfilled_to, await first_tick(client, settings)
            )
        finally:
            await db.close()
        await asyncio.wait(
            {asyncio.create_task(dashboard_up.wait()), dashboard}, return_when="FIRST_COMPLETED"
        )
        if dashboard.done():
            stop.set()
            await worker
            dashboard.result()  # raises why the dashboard could not start
        self._banner(settings, temporal, outcomes, await self._first_decision(settings), history)
        await worker
        await dashboard
        await ui_proxy
        if codec is not None:
            codec.cancel()
            await asyncio.gather(codec, return_exceptions=True)
        self.console.print("stopped the worker; stopping Temporal and Postgres")

    async def _choose_feed(self) -> Literal["coinbase", "simulated"]:
        choice = self.options.feed
        if choice != "auto":
            return choice
        if await coinbase_answers(self.base, self.base.general.products[0]):
            return "coinbase"
        if self.base.exchange.exchange != "paper":
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

    async def _first_decision(self, settings: Settings) -> str:
        """When the strategy has enough stored history to decide (see kripto.devstack.warmup)."""
        now = datetime.now(UTC)
        db = await connect(settings.general.require_database_url(), run_migrations=False)
        try:
            rates = await RateRepository(db).since(
                settings.general.products[0], now - timedelta(days=7)
            )
        except asyncpg.UndefinedTableError:  # a new database: the worker is still migrating it
            rates = []
        finally:
            await db.close()
        return first_decision(settings, rates, now)

    def _banner(
        self,
        settings: Settings,
        temporal: TemporalDevServer,
        outcomes: Mapping[str, str],
        first: str,
        history: str = "",
    ) -> None:
        receipts = (
            f"emailed by SES ({settings.mail.ses_region}) to {settings.mail.receipt_to}"
            if settings.mail.mailer == "ses"
            else f".eml files in {settings.general.outbox_dir} (KRIPTO_MAILER=ses to email them)"
        )
        cadence = (
            f"every {settings.temporal.schedule_every.total_seconds():g}s"
            if settings.temporal.schedule_every
            else f"cron '{settings.temporal.schedule_cron}'"
        )
        schedules = ", ".join(f"{sid} ({o})" for sid, o in outcomes.items())
        rows: list[tuple[str, str | None]] = [
            ("Web UI", temporal.ui_url),
            ("Dashboard", settings.dashboard.dashboard_url),
            ("Sign in", login_url(settings)),
            ("Temporal", f"{temporal.address} (namespace {settings.temporal.temporal_namespace})"),
            ("Postgres", str(settings.general.database_url)),
            (
                "Running",
                f"worker on task queue '{settings.temporal.task_queue}',"
                f" feed '{settings.exchange.feed}', exchange '{settings.exchange.exchange}'",
            ),
            ("Schedules", f"{schedules}, {cadence}"),
            ("History", history),
            ("Decisions", first),
            ("Receipts", receipts),
            ("Metrics", metrics_url(settings) or "off"),
            ("Health", health_url(settings) or "off"),
        ]
        if self.options.encrypt:
            rows.append(
                (
                    "Codec",
                    f"{codec_url(settings)} (payloads encrypted; token in"
                    f" {settings.general.data_dir / CODEC_TOKEN_FILE})",
                )
            )
        rows += [
            ("Settings", str(settings.general.data_dir / "dev.env")),
            ("Stop", "Ctrl-C (or SIGTERM) stops everything started here"),
        ]
        print_banner(self.console, rows)


def print_banner(console: Console, rows: list[tuple[str, str | None]]) -> None:
    """One line a row, never wrapped by rich: a URL (the sign-in link carries a token) must
    stay whole to be copied, also when the output is logged at 80 columns."""
    console.rule("kripto dev", align="left")
    for label, value in rows:
        shown = "off" if value is None else value
        console.print(f"{label:<11} {shown}", soft_wrap=True, highlight=False, markup=False)
    console.rule()
