"""`kripto codec-server`: decrypt payloads for the Web UI and the `temporal` CLI."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from kripto.cli.common import console, run
from kripto.composition import load_settings
from kripto.settings import Settings


def register(app: typer.Typer) -> None:
    app.command("codec-server")(codec_server)


def codec_server(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (KRIPTO_CODEC_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (KRIPTO_CODEC_PORT, 8234).", min=1, max=65535)
    ] = None,
) -> None:
    """Serve the remote codec that decrypts payloads for the Web UI and the temporal CLI.

    POST /encode and /decode for the Web UI (--ui-codec-endpoint) and the CLI (--codec-endpoint,
    --codec-auth 'Bearer <KRIPTO_CODEC_TOKEN>') until Ctrl-C or SIGTERM."""
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["codec_host"] = host
    if port is not None:
        overrides["codec_port"] = port
    run(_serve(load_settings(**overrides)))


async def _serve(settings: Settings) -> None:
    from kripto.runtime.codec_server import app_from_settings, codec_url, is_loopback, serve

    app_from_settings(settings)  # settings errors before anything listens
    task = asyncio.create_task(
        serve(
            settings,
            started=lambda: console.print(
                f"codec server on {codec_url(settings)} for the Web UI at"
                f" {settings.encryption.codec_ui_origin}"
                + (
                    ""
                    if is_loopback(settings.encryption.codec_host)
                    else " (token required of everyone)"
                )
            ),
        )
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        console.print("stopped")
