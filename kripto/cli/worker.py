from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Annotated

import typer

from kripto.cli.common import DataDir, console, fail, run, settings_for
from kripto.logs import configure_logging
from kripto.metrics import metrics_runtime, serving_line
from kripto.runtime.retired import RetiredWorkflowsOpen
from kripto.runtime.worker import run_worker
from kripto.settings import Settings
from kripto.temporal.client import connect_client

log = logging.getLogger("kripto.worker")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    drain: Annotated[
        bool,
        typer.Option(
            "--drain",
            help="On SIGTERM, as the last worker of its build, first finish the trades pinned"
            " to the build (an upgrade that replaces this worker: docker-compose.yml).",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Run a worker against the configured Temporal and Postgres until Ctrl-C or SIGTERM.

    The first SIGTERM or Ctrl-C stops it gracefully (see KRIPTO_SHUTDOWN_GRACE) and it exits 0;
    a second one ends it at once."""
    settings = settings_for(data_dir)
    # One line per event (KRIPTO_LOG_FORMAT): ours at INFO; libraries (httpx logs every
    # request) stay at WARNING.
    configure_logging(settings)
    run(serve(settings, drain))


async def serve(settings: Settings, drain: bool = False) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Installed before connecting, so a SIGTERM during start-up is graceful too.
        loop.add_signal_handler(sig, _on_signal, sig, stop)
    client = await connect_client(settings, runtime=metrics_runtime(settings))
    console.print(
        f"worker on task queue '{settings.temporal.task_queue}'"
        f" at {settings.temporal.temporal_address}; Ctrl-C to stop"
    )
    console.print(serving_line(settings), highlight=False)
    try:
        await run_worker(client, settings, stop, announce=console.print, drain_on_stop=drain)
    except RetiredWorkflowsOpen as exc:
        raise fail(str(exc)) from None


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    """The first signal asks for a graceful stop (run_worker logs it); a second one means "now":
    exit at once, with 128 + the signal's number as a shell reports a process killed by it.
    Whatever the worker was running is retried elsewhere once its timeout passes, and finds its
    own earlier work by its key."""
    if not stop.is_set():
        stop.set()
        return
    log.warning("%s received again: exiting without waiting for running activities", sig.name)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + sig.value)
