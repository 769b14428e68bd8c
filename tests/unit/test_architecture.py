"""What may import what (docs/architecture.md). The layers are written once, in LAYERS, top
to bottom; a module imports only from its own layer or a lower one (zero upward imports), and
no modules import each other in a circle. Beside that: workflows load no I/O library (nor the
settings) into the sandbox, the Temporal plumbing imports no workflow and no settings,
activities import neither workflows nor the runtime, SQL lives in kripto/db/, the faces hold no
Temporal client, and each activity interface matches its implementation's name and types."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import typing
from collections import defaultdict
from pathlib import Path

from temporalio import activity

from activities import interfaces
from activities.backfill import BackfillActivities
from activities.deciding import DecideActivities
from activities.maker_first import MakerFirstSteps
from activities.notify import NotifyActivities
from activities.rates import RateActivities
from activities.reconcile import ReconcileActivities
from activities.trading import TradeActivities

ROOT = Path(__file__).resolve().parents[2]

#: The layers, top to bottom, each a set of module prefixes (the longest prefix names a
#: module's layer). The composition root (the processes' entry points and the worker's
#: assembly) knows everything; the faces parse and format; the services are what a person can
#: do; the runtime, the activities and the workflows run on Temporal; the domain is the rest of
#: kripto; the models are the types everything shares.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "composition",
        (
            "worker",
            "starter",
            "kripto.__main__",
            "kripto.cli.main",
            "kripto.cli.worker",
            "kripto.cli.dev",
            "kripto.devstack.stack",
            "kripto.runtime.worker",
        ),
    ),
    ("faces", ("kripto.cli", "kripto.dashboard", "kripto.notify.bot")),
    ("services", ("kripto.services",)),
    ("runtime", ("kripto.runtime", "activities", "workflows", "kripto.devstack")),
    ("domain", ("kripto",)),
    ("models", ("kripto.models", "kripto.money", "kripto.ids", "kripto.errors")),
)
PACKAGES = ("kripto", "activities", "workflows")
HEAVY = (
    "asyncpg",
    "httpx",
    "boto3",
    "botocore",
    "numpy",
    "jinja2",
    "temporalio.client",
    "pydantic_settings",
    "dotenv",
)
IMPLEMENTATIONS = (
    TradeActivities,
    MakerFirstSteps,  # TradeActivities' maker-first steps, mixed in
    RateActivities,
    DecideActivities,
    BackfillActivities,
    ReconcileActivities,
    NotifyActivities,
)
#: The activity modules a workflow may import: the interfaces, and the one place errors become
#: Temporal's (pure).
WORKFLOW_MAY_IMPORT_FROM_ACTIVITIES = {"activities.interfaces", "activities.errors", "activities"}
#: kripto/ modules that start or describe workflows (by their types): the runtime, the faces
#: and the services. Domain code never does.
KRIPTO_MAY_IMPORT_WORKFLOWS = (
    "kripto/runtime/",
    "kripto/services/",
    "kripto/cli/",
    "kripto/dashboard/",
    "kripto/notify/bot.py",  # the Telegram bot starts trades, as the dashboard does
)
#: Low plumbing: it may not import these at module level.
PLUMBING = "kripto/temporal/"
NOT_IN_PLUMBING = (
    "workflows",
    "activities",
    "kripto.settings",
    "kripto.runtime",
    "kripto.services",
)
#: The faces, which hold no Temporal client: they call the services (or the runtime).
FACES = ("kripto/cli/", "kripto/dashboard/", "kripto/notify/")
#: Modules that still hold a Temporal client import or SQL, each to move into kripto/services/
#: or kripto/db/ (issue 27); the lists only shrink.
FACES_STILL_WITH_A_CLIENT: set[str] = {
    "kripto/cli/common.py",
    "kripto/cli/deploy.py",
    "kripto/cli/history.py",
    "kripto/cli/reconcile.py",
    "kripto/cli/trading.py",
    "kripto/dashboard/app.py",
    "kripto/dashboard/server.py",
    "kripto/notify/bot.py",
}
STILL_HOLDING_SQL: set[str] = {
    "kripto/cli/common.py",
    "kripto/dashboard/app.py",
    "kripto/dashboard/data.py",
    "kripto/devstack/stack.py",
    "kripto/exchanges/paper.py",
    "kripto/history.py",
    "kripto/notify/bot.py",
    "kripto/notify/sender.py",
    "kripto/receipts.py",
    "kripto/tax/ledger.py",
}


def sources() -> list[Path]:
    return sorted(
        [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
        + [ROOT / "worker.py", ROOT / "starter.py"]
    )


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sources()}


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (index, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def _ours(name: str) -> str | None:
    """The module of ours that an imported name lives in, if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def edges() -> set[tuple[str, str]]:
    """(importer, imported) for every import of one of our modules by another, at module level
    or inside a function alike (an import hidden in a function still runs up)."""
    found: set[tuple[str, str]] = set()
    for module, path in MODULES.items():
        for name in imports(path):
            target = _ours(name)
            # A package's own modules may import its __init__ (kripto.notify.bot -> kripto.notify).
            if target is not None and target != module and not module.startswith(target + "."):
                found.add((module, target))
    return found


def upward_imports(found: set[tuple[str, str]] | None = None) -> list[str]:
    return sorted(
        f"{a} ({LAYERS[layer_of(a)][0]}) -> {b} ({LAYERS[layer_of(b)][0]})"
        for a, b in (edges() if found is None else found)
        if layer_of(b) < layer_of(a)
    )


def circles(found: set[tuple[str, str]] | None = None) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges() if found is None else found:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_import_runs_up_the_layers() -> None:
    assert upward_imports() == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert circles() == []


def test_the_plumbing_imports_no_workflow_and_no_settings_at_module_level() -> None:
    for path in sorted((ROOT / PLUMBING).glob("*.py")):
        used = imports(path, top_level_only=True)
        assert not {m for m in used if m.startswith(NOT_IN_PLUMBING)}, path.name


def test_activities_import_no_runtime() -> None:
    """What an activity needs from the runtime (the kill switch, the tick counters) is a small
    protocol handed in at start-up."""
    for path in sorted((ROOT / "activities").glob("*.py")):
        assert not {m for m in imports(path) if m.startswith("kripto.runtime")}, path.name


def _holds_sql(path: Path) -> bool:
    import re

    sql = re.compile(
        r"^\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)"
        r"|ALTER\s+TABLE)\b",
        re.IGNORECASE,
    )
    return any(
        isinstance(node, ast.Constant) and isinstance(node.value, str) and sql.match(node.value)
        for node in ast.walk(ast.parse(path.read_text()))
    )


def test_sql_lives_in_kripto_db() -> None:
    holding = {
        p.relative_to(ROOT).as_posix()
        for p in sources()
        if not p.relative_to(ROOT).as_posix().startswith("kripto/db/") and _holds_sql(p)
    }
    assert holding <= STILL_HOLDING_SQL, sorted(holding - STILL_HOLDING_SQL)
    assert holding == STILL_HOLDING_SQL, f"no SQL left in {STILL_HOLDING_SQL - holding}: drop them"


def test_the_faces_hold_no_temporal_client() -> None:
    with_client = {
        p.relative_to(ROOT).as_posix()
        for p in sources()
        if p.relative_to(ROOT).as_posix().startswith(FACES)
        and any(m.startswith("temporalio.client") for m in imports(p))
    }
    assert with_client <= FACES_STILL_WITH_A_CLIENT, sorted(with_client - FACES_STILL_WITH_A_CLIENT)
    assert with_client == FACES_STILL_WITH_A_CLIENT, (
        f"no client left in {FACES_STILL_WITH_A_CLIENT - with_client}: drop them"
    )


def test_the_checks_find_an_upward_import_and_a_circle() -> None:
    """The checks themselves, on made-up imports: a model importing a face runs up; two
    domain modules importing each other are a circle."""
    made_up = {("kripto.models", "kripto.cli.trading"), ("kripto.cli.trading", "kripto.models")}
    assert upward_imports(made_up) == ["kripto.models (models) -> kripto.cli.trading (faces)"]
    assert circles({("kripto.risk", "kripto.fees"), ("kripto.fees", "kripto.risk")}) == [
        ["kripto.fees", "kripto.risk"]
    ]


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
        if rel != "kripto/runtime/worker.py":
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
    assert len(stubs) == 24
