"""`kripto --help` lists every command from a table without importing the commands' modules;
the table's help lines are the commands' own."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import typer
from typer.main import get_group

from kripto.cli.main import COMMANDS

HEAVY = ("numpy", "pydantic", "temporalio", "asyncpg", "httpx", "boto3", "matplotlib")


def test_each_listed_help_line_is_the_commands_own_first_paragraph() -> None:
    for name, (module, help_line) in COMMANDS.items():
        app = typer.Typer()
        importlib.import_module(module).register(app)
        app.callback()(lambda: None)  # a group, even for a module with one command
        group = get_group(app)
        command = group.get_command(typer.Context(group), name)
        assert command is not None, name
        first = " ".join((command.help or "").split("\n\n")[0].split())
        assert first == help_line, name


def test_help_imports_none_of_the_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from kripto.cli import main\n"
        "main._register_commands(['--help'])\n"
        "try:\n"
        "    main.app(args=['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('loaded:', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert re.search(r"backtest +Replay history at its own resolution", out.stdout), out.stdout
    assert out.stdout.rstrip().endswith("loaded: []")


def test_a_command_run_alone_is_still_a_subcommand_and_bad_settings_are_one_line() -> None:
    env = {"KRIPTO_FEE_RATE": "abc", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "kripto", "config"], capture_output=True, text=True, env=env
    )
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == "error: KRIPTO_FEE_RATE: Input should be a valid decimal\n"
