"""`kripto`: run the stack, look at rates, trades and the wallet, and trade.

Each command reads the settings once, then hands them down. Only the module of the command
being run is imported (numpy, pydantic, temporalio, asyncpg and the rest cost a second at
start-up), so `kripto --help` lists the commands from the table below without importing them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from kripto.cli import interrupt

if interrupt.is_the_cli():
    # Before the heavy imports below: a Ctrl-C while they load ends without a traceback too.
    interrupt.install()

import typer
from typer.core import TyperOption

app = typer.Typer(
    name="kripto",
    help="Kripto: a self-hosted BTC-GBP trading platform on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown joins a docstring's wrapped lines into paragraphs (rich mode kept the source's
    # line breaks, so help broke mid-sentence) and leaves `[default: …]` as text.
    rich_markup_mode="markdown",
)


def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    """A plain flag (`--json`) takes no value, so its help shows none (typer showed `<bool>`)."""
    return None if self.is_flag else _option_type(self, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


@app.callback()
def _group() -> None:
    # A group even when only the command being run is registered (typer would otherwise run
    # a lone command as the whole app).
    pass


#: Every command: its name, the module that registers it (`register(app)`), and the line
#: `kripto --help` shows for it (the command's own docstring's first line).
COMMANDS: dict[str, tuple[str, str]] = {
    "config": ("kripto.cli.config", "Print the effective settings, secrets masked."),
    "dev": (
        "kripto.cli.dev",
        "Start Temporal (with its Web UI), Postgres, a worker and the schedules; Ctrl-C stops all.",
    ),
    "rates": ("kripto.cli.rates", "Show the stored rates, oldest first (the data-reader)."),
    "history": (
        "kripto.cli.history",
        "Price history: backfill, import and export CSV, and the real sample.",
    ),
    "trade": (
        "kripto.cli.trading",
        "Trade exactly once under a key (buy, sell), or show a trade by its key (status).",
    ),
    "wallet": ("kripto.cli.trading", "Show every traded currency's balance (WalletWorkflow)."),
    "trades": ("kripto.cli.trading", "List the recorded trades, newest first."),
    "live": (
        "kripto.cli.live",
        "Before real money: check the live exchange, the mailer and the phone.",
    ),
    "reconcile": (
        "kripto.cli.reconcile",
        "Compare the exchange's orders, fills and balances with the books; exit 1 if they differ.",
    ),
    "decisions": ("kripto.cli.decisions", "What each tick decided, and why (newest first)."),
    "tax": (
        "kripto.cli.tax",
        "UK capital gains for a tax year by HMRC's rules: each disposal, the totals, the pools.",
    ),
    "worker": (
        "kripto.cli.worker",
        "Run a worker against the configured Temporal and Postgres until Ctrl-C or SIGTERM.",
    ),
    "backtest": (
        "kripto.cli.backtest",
        "Replay history at its own resolution with the live strategy, guards and fees.",
    ),
    "optimize": (
        "kripto.cli.optimize",
        "Sweep a parameter grid over history with the live strategy, guards and fees.",
    ),
    "protections": (
        "kripto.cli.protections",
        "The protections (stop-loss, trailing stop, drawdown guard).",
    ),
    "schedule": (
        "kripto.cli.schedule",
        "The per-product rate schedules (and the trading kill switch).",
    ),
    "deploy": (
        "kripto.cli.deploy",
        "Worker Versioning: which build new workflows start on; promote, ramp, roll back.",
    ),
    "dashboard": (
        "kripto.cli.dashboard",
        "Serve the trader's dashboard: price, decisions, money, the kill switch, manual trades.",
    ),
    "codec-server": (
        "kripto.cli.codec",
        "Serve the remote codec that decrypts payloads for the Web UI and the temporal CLI.",
    ),
}


def _register_commands(args: list[str]) -> None:
    """Each group of commands lives in its own module and adds itself to the app. Only the
    command being run is imported; for the command list (`--help`, a typo) each command is a
    placeholder carrying its help line."""
    import importlib

    name = next((a for a in args if not a.startswith("-")), None)
    if name in COMMANDS:
        importlib.import_module(COMMANDS[name][0]).register(app)
        return
    for command, (_, help_line) in COMMANDS.items():
        app.command(command, help=help_line)(_listed_only)


def _listed_only() -> None:
    """Never runs: a command that is run is registered from its module."""


#: Options whose value may be left out, and the value they then take: `--sample` alone is
#: the Coinbase hourly sample, `--sample NAME` any real series (click needs a value).
OPTIONAL_VALUES = {"--sample": "coinbase-btcusd-1h"}


def with_optional_values(args: list[str]) -> list[str]:
    """`--sample` followed by nothing or by another option gets its value filled in."""
    out: list[str] = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg in OPTIONAL_VALUES and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(OPTIONAL_VALUES[arg])
    return out


def run_command(args: list[str] | None = None) -> None:
    """Run the CLI; bad settings end it with one line naming the setting, not a traceback."""
    args = with_optional_values(sys.argv[1:] if args is None else args)
    _register_commands(args)
    code: int | str | None = 0
    try:
        app(args=args)
    except SystemExit as exc:
        code = exc.code
    except Exception as exc:
        # Only a command that loaded the settings can have raised SettingsError.
        settings = sys.modules.get("kripto.settings")
        if settings is None or not isinstance(exc, settings.SettingsError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    # The Temporal client's Rust threads can crash CPython's finalisation of a short-lived
    # process (temporalio/sdk-python#300): everything is done and flushed, so skip it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 1)


def main() -> None:
    run_command()
