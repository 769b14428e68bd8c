"""`kripto`: run the stack, look at rates, trades and the wallet, and trade.

Each command reads the settings once, then hands them down.
"""

from __future__ import annotations

import os
import sys

import typer

from kripto.settings import SettingsError

app = typer.Typer(
    name="kripto",
    help="Kripto: a self-hosted BTC-GBP trading platform on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    """Each group of commands lives in its own module and adds itself to the app."""
    from kripto.cli import (
        backtest,
        codec,
        config,
        dashboard,
        decisions,
        deploy,
        dev,
        rates,
        schedule,
        trading,
        worker,
    )

    for module in (
        config,
        dev,
        dashboard,
        rates,
        trading,
        decisions,
        schedule,
        worker,
        deploy,
        backtest,
        codec,
    ):
        module.register(app)


def run_command(args: list[str] | None = None) -> None:
    """Run the CLI; bad settings end it with one line naming the setting, not a traceback."""
    _register_commands()
    code: int | str | None = 0
    try:
        app(args=args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except SystemExit as exc:
        code = exc.code
    # The Temporal client's Rust threads can crash CPython's finalisation of a short-lived
    # process (temporalio/sdk-python#300): everything is done and flushed, so skip it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 1)


def main() -> None:
    run_command()
