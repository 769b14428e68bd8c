"""Kripto's Worker Deployment: which builds exist, which one new workflows start on, and the
calls that move that (promote, ramp, rollback). `kripto deploy`, the worker's start-up and
`kripto dev` all go through here.

Every worker reports `<deployment>:<build ID>` to the server. New workflows start on the
deployment's *current* version (or, for a share of them, on a *ramping* one). A `TradeWorkflow`
is pinned: it finishes on the build that started it, so a deploy never replays a trade's history
on code that did not write it. A version that is no longer current is *draining* while pinned
workflows still run on it, and *drained* once none do; only then may its workers stop."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.deployment.v1 import WorkerDeploymentInfo
from temporalio.api.enums.v1 import RoutingConfigUpdateState, VersionDrainageStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentResponse,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger(__name__)
IDENTITY = "kripto deploy"
Drainage = Literal["draining", "drained", "none"]


class DeploymentError(Exception):
    """A deploy command that cannot be carried out; the message says why, in one line."""


@dataclass(frozen=True)
class VersionStatus:
    build_id: str
    current: bool
    #: The share of new workflows routed here while it ramps; None when it is not ramping.
    ramp_percentage: float | None
    drainage: Drainage
    #: TradeWorkflows still running pinned to this build (from visibility, so a second or so late).
    running_trades: int
    created: datetime | None
    #: When it last stopped being current (or became current, while it still is).
    last_current: datetime | None

    @property
    def routing(self) -> str:
        if self.current:
            return "current"
        if self.ramp_percentage is not None:
            return f"ramping {self.ramp_percentage:g}%"
        return "-"


@dataclass(frozen=True)
class DeploymentStatus:
    name: str
    versions: list[VersionStatus]

    @property
    def current(self) -> VersionStatus | None:
        return next((v for v in self.versions if v.current), None)

    @property
    def ramping(self) -> VersionStatus | None:
        return next((v for v in self.versions if v.ramp_percentage is not None), None)

    def get(self, build_id: str) -> VersionStatus | None:
        return next((v for v in self.versions if v.build_id == build_id), None)

    def to_json(self) -> dict[str, Any]:
        def version(v: VersionStatus) -> dict[str, Any]:
            data = asdict(v)
            data["rampPercentage"] = data.pop("ramp_percentage")
            data["buildId"] = data.pop("build_id")
            data["runningTrades"] = data.pop("running_trades")
            data["lastCurrent"] = _iso(data.pop("last_current"))
            data["created"] = _iso(data["created"])
            return data

        current, ramping = self.current, self.ramping
        return {
            "deployment": self.name,
            "current": current.build_id if current else None,
            "ramping": ramping.build_id if ramping else None,
            "rampPercentage": ramping.ramp_percentage if ramping else None,
            "versions": [version(v) for v in self.versions],
        }


def format_status(status: DeploymentStatus) -> str:
    """A plain table, newest build first, for `kripto deploy status`."""
    rows = [("BUILD", "ROUTING", "DRAINAGE", "RUNNING TRADES", "CREATED")]
    rows += [
        (
            v.build_id,
            v.routing,
            v.drainage,
            str(v.running_trades),
            _iso(v.created) or "-",
        )
        for v in status.versions
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"deployment {status.name}"]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    if status.current is None:
        lines.append("no current build: new workflows wait for one (kripto deploy promote BUILD)")
    return "\n".join(lines)


def pinned_trades_query(deployment_name: str, build_id: str) -> str:
    """Running trades pinned to one build. Server 1.32 keeps the pinned version in the
    `TemporalWorkerDeploymentVersion` search attribute as `<deployment>:<build ID>`."""
    return (
        "WorkflowType = 'TradeWorkflow' AND ExecutionStatus = 'Running'"
        f" AND TemporalWorkerDeploymentVersion = '{deployment_name}:{build_id}'"
    )


async def describe_deployment(client: Client, name: str) -> DescribeWorkerDeploymentResponse | None:
    """The deployment as the server has it, or None before any of its workers has polled."""
    try:
        return await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=name),
            retry=True,  # the server limits calls per deployment (RESOURCE_EXHAUSTED)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def deployment_status(client: Client, name: str) -> DeploymentStatus:
    described = await describe_deployment(client, name)
    if described is None:
        raise DeploymentError(
            f"KRIPTO_DEPLOYMENT_NAME: no Worker Deployment {name!r} in namespace"
            f" {client.namespace!r} yet; start a worker (kripto worker) first"
        )
    info = described.worker_deployment_info
    counts = await asyncio.gather(
        *(
            client.count_workflows(pinned_trades_query(name, s.deployment_version.build_id))
            for s in info.version_summaries
        )
    )
    return status_from_info(info, [c.count for c in counts])


def status_from_info(info: WorkerDeploymentInfo, running_trades: list[int]) -> DeploymentStatus:
    """The deployment's versions, newest first, with the routing read from its routing config
    (the one source that says both which build is current and which one ramps)."""
    routing = info.routing_config
    current = routing.current_deployment_version.build_id
    ramping = routing.ramping_deployment_version.build_id
    drainage: dict[int, Drainage] = {
        VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINING: "draining",
        VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINED: "drained",
    }
    versions = [
        VersionStatus(
            build_id=s.deployment_version.build_id,
            current=bool(current) and s.deployment_version.build_id == current,
            ramp_percentage=(
                routing.ramping_version_percentage
                if ramping and s.deployment_version.build_id == ramping
                else None
            ),
            drainage=drainage.get(s.drainage_status, "none"),
            running_trades=trades,
            created=_time(s.create_time) if s.HasField("create_time") else None,
            last_current=_time(s.last_current_time) if s.HasField("last_current_time") else None,
        )
        for s, trades in zip(info.version_summaries, running_trades, strict=True)
    ]
    versions.sort(key=lambda v: v.created or datetime.min.replace(tzinfo=UTC), reverse=True)
    return DeploymentStatus(name=info.name, versions=versions)


def require_build(status: DeploymentStatus, build_id: str) -> VersionStatus:
    version = status.get(build_id)
    if version is None:
        known = ", ".join(v.build_id for v in status.versions) or "none"
        raise DeploymentError(
            f"BUILD: no build {build_id!r} in deployment {status.name!r}"
            f" (its builds: {known}); a build appears once one of its workers has polled"
        )
    return version


def check_percentage(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise DeploymentError(f"PCT: must be a number from 0 to 100, not {text!r}")
    return value


async def promote(client: Client, name: str, build_id: str) -> str | None:
    """Make `build_id` current; returns the build that was current before (None if none)."""
    status = await deployment_status(client, name)
    require_build(status, build_id)
    previous = status.current.build_id if status.current else None
    if previous != build_id:
        await _set_current(client, name, build_id)
    return previous


async def ramp(client: Client, name: str, build_id: str, percentage: float) -> None:
    """Send `percentage`% of new workflows to `build_id`; the rest still start on the current."""
    status = await deployment_status(client, name)
    version = require_build(status, build_id)
    if version.current:
        raise DeploymentError(f"BUILD: {build_id!r} is already current; ramp another build")
    try:
        await client.workflow_service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(
                namespace=client.namespace,
                deployment_name=name,
                build_id=build_id,
                percentage=percentage,
                identity=IDENTITY,
            ),
            retry=True,
        )
    except RPCError as exc:
        raise DeploymentError(f"cannot ramp {build_id!r}: {exc.message}") from None
    await routing_propagated(client, name)


def rollback_target(status: DeploymentStatus, build_id: str | None = None) -> VersionStatus:
    """The build to return to: the one named, or else the one that was current most recently
    before the current one (the version summaries keep when each last stopped being current)."""
    if build_id is not None:
        target = require_build(status, build_id)
        if target.current:
            raise DeploymentError(f"BUILD: {build_id!r} is already current")
        return target
    earlier = [v for v in status.versions if not v.current and v.last_current is not None]
    if not earlier:
        raise DeploymentError(
            f"no earlier current build in deployment {status.name!r} to roll back to;"
            " name one: kripto deploy rollback BUILD"
        )
    earlier.sort(key=lambda v: v.last_current or datetime.min.replace(tzinfo=UTC), reverse=True)
    if len(earlier) > 1 and earlier[0].last_current == earlier[1].last_current:
        raise DeploymentError(
            f"builds {earlier[0].build_id!r} and {earlier[1].build_id!r} were last current at"
            " the same time; name one: kripto deploy rollback BUILD"
        )
    return earlier[0]


async def rollback(client: Client, name: str, build_id: str | None = None) -> tuple[str, str]:
    """Make the previous current build current again; returns (from, to)."""
    status = await deployment_status(client, name)
    target = rollback_target(status, build_id)
    previous = status.current.build_id if status.current else "-"
    await _set_current(client, name, target.build_id)
    return previous, target.build_id


async def wait_for_version(
    client: Client, version: WorkerDeploymentVersion, within_seconds: float = 30.0
) -> DescribeWorkerDeploymentResponse:
    """The deployment once `version` is in it: the server adds a version when its first worker
    polls, a moment after the worker starts."""
    async with asyncio.timeout(within_seconds):
        while True:
            described = await describe_deployment(client, version.deployment_name)
            if described is not None and any(
                s.deployment_version.build_id == version.build_id
                for s in described.worker_deployment_info.version_summaries
            ):
                return described
            await asyncio.sleep(0.5)


async def adopt_if_first(client: Client, version: WorkerDeploymentVersion) -> bool:
    """On a worker's start: when the deployment has no current version at all (a first deploy),
    make this one current, so a new install works with no extra step. Otherwise leave routing
    alone: moving traffic to a new build is an operator's decision (`kripto deploy promote`).
    Returns True if this worker's version was made current."""
    described = await wait_for_version(client, version)
    routing = described.worker_deployment_info.routing_config
    if routing.current_deployment_version.build_id:
        return False
    try:
        await _set_current(
            client, version.deployment_name, version.build_id, described.conflict_token
        )
    except DeploymentError:
        # Another worker set a current version between our describe and set: theirs stands.
        again = await describe_deployment(client, version.deployment_name)
        if again is None:
            raise
        current = again.worker_deployment_info.routing_config.current_deployment_version
        if not current.build_id:
            raise
        return current.build_id == version.build_id
    log.info("first deploy of %s: made build %s current", version.deployment_name, version.build_id)
    return True


async def make_current(client: Client, version: WorkerDeploymentVersion) -> str | None:
    """Make this worker's version current once it has polled (`kripto dev`, a single build);
    returns the build that was current before, if any other."""
    described = await wait_for_version(client, version)
    current = described.worker_deployment_info.routing_config.current_deployment_version.build_id
    if current == version.build_id:
        return None
    await _set_current(client, version.deployment_name, version.build_id)
    return current or None


async def _set_current(
    client: Client, name: str, build_id: str, conflict_token: bytes = b""
) -> None:
    try:
        await client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=client.namespace,
                deployment_name=name,
                build_id=build_id,
                conflict_token=conflict_token,
                identity=IDENTITY,
            ),
            retry=True,
        )
    except RPCError as exc:
        raise DeploymentError(f"cannot make {build_id!r} current: {exc.message}") from None
    await routing_propagated(client, name)


#: How long a routing change may take to reach every task queue partition.
PROPAGATION_SECONDS = 30.0


async def routing_propagated(
    client: Client, name: str, within_seconds: float = PROPAGATION_SECONDS
) -> None:
    """Wait until the server has taken the new routing to every task queue partition: until
    then a new workflow may still start on the build that was current before, so `promote`,
    `ramp` and `rollback` return only once it is done. (A server that does not report it says
    UNSPECIFIED, and is taken at its word.)"""
    in_progress = RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_IN_PROGRESS
    try:
        async with asyncio.timeout(within_seconds):
            while True:
                described = await describe_deployment(client, name)
                info = described.worker_deployment_info if described else None
                if info is None or info.routing_config_update_state != in_progress:
                    return
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise DeploymentError(
            f"the routing change in deployment {name!r} was made but has not reached every"
            f" task queue after {within_seconds:g}s; `kripto deploy status` shows it"
        ) from None


def _time(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
