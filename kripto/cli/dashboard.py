"""`kripto dashboard`: the trader's web page (see docs/using.md, "Dashboard")."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from kripto.cli.common import connect, console, run
from kripto.composition import load_settings
from kripto.settings import Settings


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)


def dashboard(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default KRIPTO_DASHBOARD_HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port (default KRIPTO_DASHBOARD_PORT, 8237).", min=1, max=65535),
    ] = None,
) -> None:
    """Serve the trader's dashboard: price, decisions, money, the kill switch, manual trades.

    Until Ctrl-C or SIGTERM. It binds to 127.0.0.1 unless told otherwise; pausing, resuming and
    trading need KRIPTO_DASHBOARD_TOKEN (its login URL is printed)."""
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["dashboard_host"] = host
    if port is not None:
        overrides["dashboard_port"] = port
    run(serve(load_settings(**overrides)))


async def serve(settings: Settings) -> None:
    from kripto.dashboard.server import login_url, serve_dashboard

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await connect(settings)

    def started() -> None:
        console.print(f"dashboard on {settings.dashboard.dashboard_url}; Ctrl-C to stop")
        url = login_url(settings)
        console.print(
            f"sign in (to pause, resume and trade): {url}"
            if url
            else "read only: set KRIPTO_DASHBOARD_TOKEN to pause, resume and trade from it"
        )

    await serve_dashboard(settings, client, stop, started)
