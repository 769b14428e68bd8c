"""docs/going-live.md is true: its steps come in the order the issue asks (live check, one manual
£10 buy, reconcile, automatic trading on), each command it names exists, and its example is what
`kripto live check` prints for the account it describes (against the fake Coinbase)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from tests.activities.test_live_check import checks_of, live_settings
from tests.fakes.coinbase_fixtures import FakeCoinbase

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "going-live.md"


def commands() -> list[str]:
    found = []
    for block in re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if line.startswith(".venv/bin/kripto "):
                found.append(line.removeprefix(".venv/bin/kripto "))
    return found


def test_the_steps_come_in_order_and_each_command_exists() -> None:
    steps = commands()
    order = [
        next(i for i, c in enumerate(steps) if c.startswith(step))
        for step in ("live check", "trade buy 10.00", "reconcile", "schedule resume")
    ]
    assert order == sorted(order)
    assert steps[steps.index("trade buy 10.00") - 1].startswith("schedule pause")
    # Each command exists: its module registers it on the app (as `kripto` does when run).
    import importlib

    import typer

    from kripto.cli.main import COMMANDS

    app = typer.Typer()
    for name in {c.split()[0] for c in steps}:
        importlib.import_module(COMMANDS[name][0]).register(app)
    group = typer.main.get_command(app)
    for command in steps:
        words = [w for w in command.split() if not w.startswith("-") and not w[0].isdigit()]
        found = group.get_command(None, words[0])  # type: ignore[attr-defined]
        assert found is not None, command
        if len(words) > 1 and hasattr(found, "get_command"):
            assert found.get_command(None, words[1]) is not None, command


async def test_the_example_is_what_the_check_prints(
    fake_coinbase: FakeCoinbase, tmp_path: Path
) -> None:
    example = DOC.read_text().split("<!-- live-check-example -->\n```text\n")[1].split("```")[0]
    fake_coinbase.set_balance("GBP", "4.00")
    fake_coinbase.server.fee_rate = Decimal("0.012")
    lines = [c.line for c in (await checks_of(live_settings(fake_coinbase, tmp_path))).values()]
    clock = re.compile(r"clock is \d+\.\d s (behind|ahead of)")
    shown = [clock.sub("clock is 0.0 s behind", line) for line in lines[:8]]
    assert shown == example.splitlines()
