from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kripto.cli.common import console, fail
from kripto.composition import load_settings
from kripto.devstack.stack import DevOptions, DevStack, FeedChoice
from kripto.devstack.temporal import StartupError
from kripto.logs import configure_logging
from kripto.settings import DEFAULT_DATA_DIR, parse_duration


def register(app: typer.Typer) -> None:
    app.command("dev")(dev)


def dev(
    data_dir: Annotated[
        Path, typer.Option(help="Folder for all data and logs.")
    ] = DEFAULT_DATA_DIR,
    port: Annotated[int, typer.Option(help="Temporal gRPC port.", min=1, max=65535)] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.", min=1, max=65535)] = 8233,
    every: Annotated[
        str | None, typer.Option(help="Schedule interval instead of every minute, e.g. 5s.")
    ] = None,
    feed: Annotated[str, typer.Option(help="Rate feed: auto, coinbase or simulated.")] = "auto",
    dashboard_port: Annotated[
        int | None,
        typer.Option(
            help="Dashboard port (default KRIPTO_DASHBOARD_PORT, 8237).", min=1, max=65535
        ),
    ] = None,
    paper_gbp: Annotated[
        str | None, typer.Option(help="GBP the paper wallet starts with (default 1000.00).")
    ] = None,
    encrypt: Annotated[
        bool,
        typer.Option(
            help="Encrypt payloads: a key in the data folder (made on first use), the codec"
            " server, and the Web UI pointed at it."
        ),
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Prometheus metrics port (default KRIPTO_METRICS_PORT, 9464; 0 turns it off).",
            min=0,
            max=65535,
        ),
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(
            help="/healthz port (default KRIPTO_HEALTH_PORT, 9465; 0 turns it off).",
            min=0,
            max=65535,
        ),
    ] = None,
) -> None:
    """Start Temporal (with its Web UI), Postgres, a worker and the schedules; Ctrl-C stops all."""
    if feed not in ("auto", "coinbase", "simulated"):
        raise fail(f"--feed must be auto, coinbase or simulated, not {feed!r}")
    try:
        interval = parse_duration(every) if every is not None else None
    except ValueError as exc:
        raise fail(f"--every: {exc}") from None
    if port == ui_port:
        raise fail("--port and --ui-port must differ")
    if dashboard_port is not None and dashboard_port in (port, ui_port):
        raise fail("--dashboard-port must differ from --port and --ui-port")
    options = DevOptions(
        data_dir=data_dir,
        port=port,
        ui_port=ui_port,
        every=interval,
        feed=feed,  # type: ignore[arg-type]
        encrypt=encrypt,
        dashboard_port=dashboard_port,
    )
    overrides: dict[str, object] = {"data_dir": data_dir}
    if paper_gbp is not None:
        overrides["paper_gbp"] = paper_gbp
    if metrics_port is not None:
        overrides["metrics_port"] = metrics_port
    if health_port is not None:
        overrides["health_port"] = health_port
    base = load_settings(**overrides)
    if (exchange := base.exchange.exchange) != "paper":
        raise fail(
            f"kripto dev trades on paper only: KRIPTO_EXCHANGE={exchange} is refused (its"
            " Temporal, dashboard and bot are for one machine; run `kripto worker` against your"
            " own Temporal to trade live)"
        )
    ports = [p for p in (port, ui_port, base.metrics.metrics_port, base.metrics.health_port) if p]
    if len(set(ports)) != len(ports):
        raise fail("--port, --ui-port, --metrics-port and --health-port must differ")
    configure_logging(base)
    try:
        DevStack(options, base, console).run()
    except StartupError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        console.print("stopped")


__all__ = ["FeedChoice", "dev"]
