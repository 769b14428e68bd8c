"""`kripto deploy`'s reading of a Worker Deployment (a real DescribeWorkerDeployment reply,
built here as the protobuf the server sends), its table and JSON, and its rules for rollback
and ramp percentages; and the build ID derived from the code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import ValidationError
from temporalio.api.deployment.v1 import (
    RoutingConfig,
    WorkerDeploymentInfo,
    WorkerDeploymentVersion,
)
from temporalio.api.enums.v1 import VersionDrainageStatus

from kripto.build_id import code_build_id, code_digest, installed_dependencies, required_names
from kripto.cli.deploy_view import format_status, status_json
from kripto.inputs import UserTradeRequest
from kripto.models import PlacedOrder
from kripto.runtime.deployments import (
    DeploymentError,
    DeploymentStatus,
    check_percentage,
    pinned_trades_query,
    rollback_target,
    status_from_info,
)
from kripto.settings import Settings, SettingsError, load_settings

Summary = WorkerDeploymentInfo.WorkerDeploymentVersionSummary


def ts(minute: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime(2026, 11, 25, 12, minute, tzinfo=UTC))
    return stamp


def summary(
    build: str, created: int, drainage: int = 0, last_current: int | None = None
) -> Summary:
    s = Summary(
        deployment_version=WorkerDeploymentVersion(deployment_name="kripto", build_id=build),
        create_time=ts(created),
        drainage_status=drainage,  # type: ignore[arg-type]
    )
    if last_current is not None:
        s.last_current_time.CopyFrom(ts(last_current))
    return s


def deployment(current: str = "c3", ramping: str = "", pct: float = 0) -> DeploymentStatus:
    info = WorkerDeploymentInfo(
        name="kripto",
        version_summaries=[
            summary("a1", 1, VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINED, 5),
            summary("c3", 10, last_current=10),
            summary("b2", 5, VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINING, 10),
        ],
        routing_config=RoutingConfig(
            current_deployment_version=WorkerDeploymentVersion(
                deployment_name="kripto", build_id=current
            ),
            ramping_deployment_version=WorkerDeploymentVersion(
                deployment_name="kripto", build_id=ramping
            ),
            ramping_version_percentage=pct,
        ),
    )
    return status_from_info(info, [0, 0, 2], pollers={"c3": 2, "b2": 1})


def test_status_lists_builds_newest_first_with_routing_drainage_and_trades() -> None:
    assert format_status(deployment()) == (
        "deployment kripto\n"
        "BUILD  ROUTING  POLLERS  DRAINAGE  RUNNING TRADES  CREATED\n"
        "c3     current  2        none      0               2026-11-25T12:10:00Z\n"
        "b2     -        1        draining  2               2026-11-25T12:05:00Z\n"
        "a1     -        0        drained   0               2026-11-25T12:01:00Z"
    )
    ramped = deployment(ramping="b2", pct=12.5)
    assert format_status(ramped).splitlines()[3].split()[:5] == [
        "b2",
        "ramping",
        "12.5%",
        "1",
        "draining",
    ]


def test_status_json_names_the_current_and_ramping_builds() -> None:
    shown = status_json(deployment(ramping="b2", pct=12.5))
    assert (shown["deployment"], shown["current"], shown["ramping"], shown["rampPercentage"]) == (
        "kripto",
        "c3",
        "b2",
        12.5,
    )
    assert shown["versions"][1] == {
        "buildId": "b2",
        "current": False,
        "rampPercentage": 12.5,
        "drainage": "draining",
        "runningTrades": 2,
        "created": "2026-11-25T12:05:00Z",
        "lastCurrent": "2026-11-25T12:10:00Z",
        "pollers": 1,
    }


def test_no_current_build_is_said_plainly() -> None:
    status = deployment(current="")
    assert status.current is None and status_json(status)["current"] is None
    assert format_status(status).endswith(
        "no current build: new workflows wait for one (kripto deploy promote BUILD)"
    )


def test_a_current_build_without_workers_is_said_plainly() -> None:
    status = deployment(current="a1")
    assert format_status(status).endswith(
        "no worker of the current build a1 is polling: new workflows wait for one"
        " (start its workers, or kripto deploy promote BUILD)"
    )


def test_rollback_returns_to_the_build_that_was_current_last() -> None:
    assert rollback_target(deployment()).build_id == "b2"
    assert rollback_target(deployment(), "a1").build_id == "a1"
    with pytest.raises(DeploymentError, match=r"^BUILD: 'c3' is already current$"):
        rollback_target(deployment(), "c3")
    with pytest.raises(DeploymentError) as unknown:
        rollback_target(deployment(), "zz")
    assert str(unknown.value) == (
        "BUILD: no build 'zz' in deployment 'kripto' (its builds: c3, b2, a1);"
        " a build appears once one of its workers has polled"
    )


def test_rollback_with_no_earlier_current_build_asks_for_one() -> None:
    first = status_from_info(
        WorkerDeploymentInfo(
            name="kripto",
            version_summaries=[summary("a1", 1, last_current=1), summary("b2", 2)],
            routing_config=RoutingConfig(
                current_deployment_version=WorkerDeploymentVersion(build_id="a1")
            ),
        ),
        [0, 0],
    )
    with pytest.raises(DeploymentError) as exc:
        rollback_target(first)
    assert str(exc.value) == (
        "no earlier current build in deployment 'kripto' to roll back to;"
        " name one: kripto deploy rollback BUILD"
    )


@pytest.mark.parametrize("text", ["-1", "100.5", "abc", "nan", "inf", ""])
def test_a_ramp_percentage_outside_0_to_100_is_refused(text: str) -> None:
    with pytest.raises(DeploymentError) as exc:
        check_percentage(text)
    assert str(exc.value) == f"PCT: must be a number from 0 to 100, not {text!r}"


def test_ramp_percentages_in_range() -> None:
    assert [check_percentage(t) for t in ("0", "12.5", "100")] == [0, 12.5, 100]


def test_the_pinned_trades_query_names_the_version_as_the_server_keeps_it() -> None:
    assert pinned_trades_query("kripto", "0.1.0-abc") == (
        "WorkflowType = 'TradeWorkflow' AND ExecutionStatus = 'Running'"
        " AND TemporalWorkerDeploymentVersion = 'kripto:0.1.0-abc'"
    )


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_code_digest_changes_with_any_source_byte_and_only_then(tmp_path: Path) -> None:
    files = {"workflows/a.py": "x = 1\n", "activities/b.py": "", "kripto/c/d.py": "y = 2\n"}
    write(tmp_path / "one", files)
    write(tmp_path / "two", files)
    write(tmp_path / "two", {"kripto/__pycache__/c.cpython-312.pyc": "bytecode", "README": "x"})
    assert code_digest(tmp_path / "one") == code_digest(tmp_path / "two")
    write(tmp_path / "two", {"kripto/c/d.py": "y = 3\n"})
    assert code_digest(tmp_path / "one") != code_digest(tmp_path / "two")
    write(tmp_path / "three", {**files, "kripto/c/d.py": "", "kripto/c/e.py": "y = 2\n"})
    assert code_digest(tmp_path / "three") != code_digest(tmp_path / "one")  # moved code


def test_the_code_digest_changes_with_an_installed_dependency(tmp_path: Path) -> None:
    """An image rebuilt with another Temporal SDK (or pydantic-core) is another build."""
    write(tmp_path, {"kripto/a.py": "x = 1\n"})
    deps = {"pydantic-core": "2.41.5", "temporalio": "1.20.0"}
    same = code_digest(tmp_path, dependencies=dict(deps))
    assert code_digest(tmp_path, dependencies=deps) == same
    assert code_digest(tmp_path, dependencies={**deps, "temporalio": "1.21.0"}) != same
    assert code_digest(tmp_path, dependencies={**deps, "pydantic-core": "2.41.6"}) != same
    assert code_digest(tmp_path, dependencies={**deps, "httpx": "0.28.1"}) != same


def test_the_build_id_hashes_every_installed_dependency_and_no_optional_extra() -> None:
    installed = installed_dependencies()
    # Direct and indirect requirements, at the versions importlib.metadata reports.
    for name in ("temporalio", "pydantic", "pydantic-core", "asyncpg", "protobuf"):
        assert installed[name] == metadata.version(name), name
    # The dev and bench extras are not what a worker runs.
    assert "pytest" not in installed and "hypothesis" not in installed
    assert "kripto" not in installed
    assert required_names(
        [
            "temporalio<2,>=1.35",
            'pytest>=8; extra == "dev"',
            "Pydantic_Core==2.41.5; python_version >= '3'",
        ]
    ) == ["temporalio", "pydantic-core"]


def test_the_build_id_defaults_to_the_code_and_can_be_set() -> None:
    assert Settings().temporal.build_id == code_build_id()
    assert code_build_id().startswith("0.1.0-") and len(code_build_id()) == len("0.1.0-") + 12
    assert Settings(build_id="2026-11-25.1").temporal.build_id == "2026-11-25.1"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("KRIPTO_BUILD_ID", "", "KRIPTO_BUILD_ID: must not be empty"),
        (
            "KRIPTO_BUILD_ID",
            "build 7",
            "KRIPTO_BUILD_ID: 'build 7' must not contain spaces or control characters",
        ),
        ("KRIPTO_BUILD_ID", "b" * 101, "KRIPTO_BUILD_ID: must be at most 100 characters, not 101"),
        (
            "KRIPTO_DEPLOYMENT_NAME",
            "kripto.eu",
            "KRIPTO_DEPLOYMENT_NAME: 'kripto.eu' must not contain '.', which ends the name in"
            " Temporal",
        ),
    ],
)
def test_bad_versioning_settings_name_the_setting(
    name: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert str(exc.value) == message


def test_worker_versioning_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRIPTO_WORKER_VERSIONING", "false")
    assert load_settings().temporal.worker_versioning is False


def test_internal_payloads_tolerate_unknown_fields_but_a_trade_request_does_not() -> None:
    """A newer build may add a field to an internal payload; an older build still reads it."""
    placed = PlacedOrder.model_validate({"tradeId": "t-1", "orderId": "o-1", "newField": 1})
    assert placed == PlacedOrder(trade_id="t-1", order_id="o-1")
    with pytest.raises(ValidationError) as exc:
        UserTradeRequest.model_validate({"tradeType": "buy", "amount": "10.00", "ammount": "20.00"})
    [error] = exc.value.errors()
    assert (error["loc"], error["type"]) == (("ammount",), "extra_forbidden")


def test_a_builds_workers_are_gone_since_its_retirement_or_its_lapsed_drain_lease() -> None:
    """A draining last worker renews a lease; while it runs the worker lives. Killed mid-drain,
    the lease lapses and the build's workers count as gone from then (unless one polls after)."""
    from kripto.runtime.deployments import DRAINING_KEY, RETIRED_KEY, gone_cutoff

    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    retired = now - timedelta(minutes=5)
    lease = now + timedelta(seconds=7)
    assert gone_cutoff({}, now) is None
    assert gone_cutoff({RETIRED_KEY: retired}, now) == retired
    assert gone_cutoff({DRAINING_KEY: lease}, now) is None  # draining, alive
    assert gone_cutoff({DRAINING_KEY: lease}, lease + timedelta(seconds=1)) == lease  # killed
    assert gone_cutoff({RETIRED_KEY: retired, DRAINING_KEY: lease}, now) == retired
    later = now + timedelta(minutes=1)
    assert gone_cutoff({RETIRED_KEY: retired, DRAINING_KEY: lease}, later) == lease
