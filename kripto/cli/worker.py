from __future__ import annotations

import asyncio
import signal

import typer

from kripto.cli.common import console, run
from kripto.settings import Settings, load_settings
from kripto.temporal.client import connect_client
from kripto.temporal.worker import run_worker


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker() -> None:
    """Run a worker against the configured Temporal and Postgres until Ctrl-C or SIGTERM."""
    run(serve(load_settings()))


async def serve(settings: Settings) -> None:
    client = await connect_client(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console.print(
        f"worker on task queue '{settings.task_queue}' at {settings.temporal_address};"
        " Ctrl-C to stop"
    )
    await run_worker(client, settings, stop, announce=console.print)
