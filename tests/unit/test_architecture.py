"""What may import what (docs/architecture.md): workflows load no I/O library into the sandbox,
activities never import workflows, only the worker wires activity implementations in, and each
activity interface matches its implementation's name and types."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import typing
from pathlib import Path

from temporalio import activity

from activities import interfaces
from activities.backfill import BackfillActivities
from activities.deciding import DecideActivities
from activities.notify import NotifyActivities
from activities.rates import RateActivities
from activities.reconcile import ReconcileActivities
from activities.trading import TradeActivities

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("asyncpg", "httpx", "boto3", "botocore", "numpy", "jinja2", "temporalio.client")
IMPLEMENTATIONS = (
    TradeActivities,
    RateActivities,
    DecideActivities,
    BackfillActivities,
    ReconcileActivities,
    NotifyActivities,
)
#: The activity modules a workflow may import: the interfaces, and the one place errors become
#: Temporal's (pure).
WORKFLOW_MAY_IMPORT_FROM_ACTIVITIES = {"activities.interfaces", "activities.errors", "activities"}
#: kripto/ modules that start or describe workflows (by their types): the worker, the CLI, the
#: dashboard and the Temporal helpers. Domain code never does.
KRIPTO_MAY_IMPORT_WORKFLOWS = (
    "kripto/temporal/",
    "kripto/cli/",
    "kripto/dashboard/",
    "kripto/notify/start.py",
    "kripto/notify/bot.py",  # the Telegram bot starts trades, as the dashboard does
)


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_importing_every_workflow_loads_no_io_library() -> None:
    code = (
        "import importlib, pkgutil, sys, workflows\n"
        "for m in pkgutil.iter_modules(workflows.__path__):\n"
        "    importlib.import_module('workflows.' + m.name)\n"
        f"print(sorted(h for h in {HEAVY!r} if h in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_workflows_import_only_the_activity_interfaces() -> None:
    for path in sorted((ROOT / "workflows").glob("*.py")):
        used = {m for m in imports(path) if m.startswith("activities")}
        assert used <= WORKFLOW_MAY_IMPORT_FROM_ACTIVITIES | {
            "activities.interfaces",
            "activities.errors.temporal_errors",
        }, (path.name, used - WORKFLOW_MAY_IMPORT_FROM_ACTIVITIES)


def test_activities_never_import_workflows() -> None:
    for path in sorted((ROOT / "activities").glob("*.py")):
        assert not {m for m in imports(path) if m.startswith("workflows")}, path.name


def test_only_the_worker_wires_activity_implementations_and_domain_code_no_workflows() -> None:
    for path in sorted((ROOT / "kripto").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        used = imports(path)
        implementations = {
            m for m in used if m.startswith("activities") and not m.startswith("activities.errors")
        }
        if rel != "kripto/temporal/worker.py":
            assert not implementations, (rel, implementations)
        if not rel.startswith(KRIPTO_MAY_IMPORT_WORKFLOWS):
            assert not {m for m in used if m.startswith("workflows")}, rel


def test_each_interface_is_its_implementation() -> None:
    def signature(fn: typing.Any) -> tuple[str | None, tuple[object, ...], object]:
        hints = typing.get_type_hints(fn)
        params = [p for p in inspect.signature(fn).parameters if p != "self"]
        name = activity._Definition.must_from_callable(fn).name
        return name, tuple(hints[p] for p in params), hints["return"]

    stubs = {
        signature(fn)
        for fn in vars(interfaces).values()
        if callable(fn) and hasattr(fn, "__temporal_activity_definition")
    }
    implemented = {
        signature(fn)
        for cls in IMPLEMENTATIONS
        for fn in vars(cls).values()
        if hasattr(fn, "__temporal_activity_definition")
    }
    assert stubs == implemented
    assert len(stubs) == 17
