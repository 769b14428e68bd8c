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


def _help(*args: str) -> str:
    """A command's help as an 80-column terminal shows it, from the real app (its markup mode
    and flag display), with every command's module registered."""
    from typer.testing import CliRunner

    from kripto.cli import main

    if not getattr(main.app, "_all_registered", False):
        for module in dict.fromkeys(module for module, _ in COMMANDS.values()):
            importlib.import_module(module).register(main.app)
        main.app._all_registered = True  # type: ignore[attr-defined]
    result = CliRunner().invoke(
        main.app, [*args, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_help_reads_cleanly() -> None:
    """No `<bool>` on a plain flag, no markup eaten from a help text (`(reads its dev.env) .`),
    a docstring's paragraph joined rather than broken where the source wraps, and no argument
    that does not exist."""
    for name in COMMANDS:
        text = _help(name)
        assert "<bool>" not in text, name
        assert not re.search(r"\S \.(\s|$)", text), name  # a stray space before a full stop
    optimize = " ".join(_help("optimize").split())
    assert "(the same figures kripto backtest --param gives); indicators shared" in optimize
    for line in _help("optimize").splitlines():
        if "With --walk-forward" in line:
            # The sentence runs on to the panel's width, not to the source's line end.
            assert line.rstrip().endswith("N the"), line
    for side in ("buy", "sell"):  # KEY is `status`'s argument; buy and sell take --key
        trade = _help("trade", side)
        assert "KEY" not in trade and "--key" in trade
        assert "[default: KRIPTO_DATA_DIR, .kripto]" in trade  # once dropped as rich markup
