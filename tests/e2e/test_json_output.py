"""`--json` prints only JSON on stdout, always: every command that has `--json` is run as a
person runs it (a process of its own, against the dev server, Postgres and a worker with the
paper exchange), and its stdout is parsed whole. Notes, attribution and progress go to
stderr."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from kripto.cli.main import COMMANDS, _register_commands, app
from kripto.db import Database
from kripto.runtime.worker import build_services, running_worker
from kripto.settings import Settings
from tests.trading_fixtures import store_rate

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
KRIPTO = [sys.executable, "-m", "kripto"]


def json_commands() -> set[str]:
    """Every command path with a `--json` option, e.g. `trade buy`."""
    import typer

    for name in COMMANDS:
        _register_commands([name])
    found: set[str] = set()

    def walk(command: Any, path: list[str]) -> None:
        if any("--json" in getattr(p, "opts", ()) for p in command.params):
            found.add(" ".join(path))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.fixture
async def worker_env(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database
) -> AsyncIterator[dict[str, str]]:
    """A running worker, and the environment a CLI needs to reach it."""
    await store_rate(db)
    services = await build_services(settings)
    async with running_worker(dev_server_env.client, settings, services):
        yield {
            **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
            "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
            "KRIPTO_DATABASE_URL": settings.general.require_database_url(),
            "KRIPTO_TASK_QUEUE": settings.temporal.task_queue,
            "KRIPTO_DEPLOYMENT_NAME": settings.temporal.deployment_name,
        }
    await services.close()


async def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *KRIPTO, *args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_every_json_command_prints_only_json(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    key = str(uuid.uuid4())
    runs = {
        "backtest": ["backtest", "--synthetic", "2", "--json"],
        "optimize": ["optimize", "--synthetic", "2", "--strategy", "rsi", "--grid", "period=1h"],
        "config": ["config"],
        "rates": ["rates"],
        "trade buy": ["trade", "buy", "20.00", "--key", key],
        "trade status": ["trade", "status", key],
        "trade sell": ["trade", "sell", "5.00"],
        "trades": ["trades"],
        "wallet": ["wallet"],
        "decisions": ["decisions"],
        "schedule status": ["schedule", "status"],
        "deploy status": ["deploy", "status"],
        "reconcile": ["reconcile"],
        "tax": ["tax", "--year", "2025-26"],
        # On paper there is no live exchange to check: exit 2, its reason on stderr and
        # nothing on stdout (tests/activities/test_live_check.py parses its JSON on Coinbase).
        "live check": ["live", "check"],
    }
    codes = {"live check": 2}
    assert set(runs) == json_commands()  # a new --json command must join this test
    for name, args in runs.items():
        args = args if "--json" in args else [*args, "--json"]
        code, out, err = await run(args, worker_env, tmp_path)
        assert code == codes.get(name, 0), (name, out, err)
        if not out and code:
            assert "KRIPTO_EXCHANGE=paper" in err, (name, err)
            continue
        try:
            json.loads(out)
        except json.JSONDecodeError:
            pytest.fail(f"kripto {name} --json printed more than JSON on stdout: {out[:300]!r}")
