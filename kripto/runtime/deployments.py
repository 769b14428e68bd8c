"""Kripto's Worker Deployment: which builds exist, which one new workflows start on, and the
calls that move that (promote, ramp, rollback). `kripto deploy`, the worker's start-up and
`kripto dev` all go through here. This module talks to the server; `kripto/cli/deploy_view.py`
shows what it finds.

Every worker reports `<deployment>:<build ID>` to the server. New workflows start on the
deployment's *current* version (or, for a share of them, on a *ramping* one). A `TradeWorkflow`
is pinned: it finishes on the build that started it, so a deploy never replays a trade's history
on code that did not write it. A version that is no longer current is *draining* while pinned
workflows still run on it, and *drained* once none do; only then may its workers stop.

A build *has pollers* when a worker of it has polled the task queue within the last
`POLLER_WINDOW` (the server answers an idle poll after a minute, and a live worker polls again at
once) and after the build was last *retired*: a worker that stops gracefully as the last of its
build records when, in the version's metadata, so the next build need not wait out the window.
A last worker that *drains* (it stops, and trades pinned to its build still run) takes its build
out of routing at once (no new workflow starts on it) and keeps a lease in the metadata,
renewed while it drains: once the lease has lapsed it is gone, killed mid-drain, unless it polled
after.

An upgrade never stalls: a new build becomes current as soon as it polls when the current one
has no workers (or none: a draining build is out of routing), whatever is pinned to the old one;
trades pinned to a build with no workers for `upgrade_grace` are moved to the current build by a
versioning override (`move_stranded_trades`), and finish there."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.deployment.v1 import WorkerDeploymentInfo
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionMessage
from temporalio.api.enums.v1 import (
    RoutingConfigUpdateState,
    TaskQueueType,
    VersionDrainageStatus,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import VersioningOverride, WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentResponse,
    DescribeWorkerDeploymentVersionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
    UpdateWorkerDeploymentVersionMetadataRequest,
    UpdateWorkflowExecutionOptionsRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger(__name__)
IDENTITY = "kripto deploy"
Drainage = Literal["draining", "drained", "none"]
T = TypeVar("T")
#: A poll older than this is a worker gone: the server answers an idle poll after 60 s.
POLLER_WINDOW = timedelta(seconds=70)
#: The version metadata entry a worker leaving as the last of its build writes (an ISO time).
RETIRED_KEY = "kripto.retiredAt"
#: The version metadata entry a draining last worker renews (an ISO time): until then it lives.
DRAINING_KEY = "kripto.drainingUntil"
#: How far ahead a draining worker's lease reaches; it renews it every `DRAIN_RENEW`.
DRAIN_LEASE = timedelta(seconds=10)
DRAIN_RENEW = timedelta(seconds=3)
#: How long a deployment call waits out a server that says the deployment is busy
#: (RESOURCE_EXHAUSTED) before its refusal is the answer.
BUSY_WAIT = timedelta(seconds=30)


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
    #: Workers of this build polling the task queue now (see `POLLER_WINDOW`).
    pollers: int = 0

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


def pinned_trades_query(deployment_name: str, build_id: str) -> str:
    """Running trades pinned to one build. Server 1.32 keeps the pinned version in the
    `TemporalWorkerDeploymentVersion` search attribute as `<deployment>:<build ID>`."""
    return (
        "WorkflowType = 'TradeWorkflow' AND ExecutionStatus = 'Running'"
        f" AND TemporalWorkerDeploymentVersion = '{deployment_name}:{build_id}'"
    )


async def _rpc(
    call: Callable[..., Awaitable[T]], request: object, failure: str, missing_ok: bool = False
) -> T | None:
    """Every deployment call goes through here: retried while the server limits calls per
    deployment (RESOURCE_EXHAUSTED) or is briefly away; a refusal becomes one DeploymentError line
    (`failure: the server's reason`). With `missing_ok`, NOT_FOUND is None."""
    # The SDK's own retries span a few seconds; a deployment whose workers renew a drain lease
    # and look for stranded trades can stay busy longer, so a busy server is waited out for up
    # to BUSY_WAIT in all before its refusal is the answer.
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + BUSY_WAIT.total_seconds(), 0.5
    while True:
        try:
            return await call(request, retry=True)
        except RPCError as exc:
            if exc.status == RPCStatusCode.RESOURCE_EXHAUSTED and loop.time() + pause < deadline:
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            if missing_ok and exc.status == RPCStatusCode.NOT_FOUND:
                return None
            if exc.status == RPCStatusCode.UNIMPLEMENTED:
                raise  # a server without Worker Deployments: the caller says what to do
            raise DeploymentError(f"{failure}: {exc.message}") from None


async def describe_deployment(client: Client, name: str) -> DescribeWorkerDeploymentResponse | None:
    """The deployment as the server has it, or None before any of its workers has polled."""
    return await _rpc(
        client.workflow_service.describe_worker_deployment,
        DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=name),
        f"cannot read deployment {name!r}",
        missing_ok=True,
    )


async def deployment_status(client: Client, name: str, task_queue: str) -> DeploymentStatus:
    described = await describe_deployment(client, name)
    if described is None:
        raise DeploymentError(
            f"KRIPTO_DEPLOYMENT_NAME: no Worker Deployment {name!r} in namespace"
            f" {client.namespace!r} yet; start a worker (kripto worker) first"
        )
    info = described.worker_deployment_info
    builds = [s.deployment_version.build_id for s in info.version_summaries]
    counts = await asyncio.gather(*(running_trades(client, name, b) for b in builds))
    polling = await live_pollers(client, name, task_queue)
    retired = await asyncio.gather(*(retired_at(client, name, b) for b in builds))
    pollers = {
        build: len(polling.after(build, when)) for build, when in zip(builds, retired, strict=True)
    }
    return status_from_info(info, list(counts), pollers)


async def running_trades(client: Client, name: str, build_id: str) -> int:
    return (await client.count_workflows(pinned_trades_query(name, build_id))).count


def status_from_info(
    info: WorkerDeploymentInfo, running_trades: list[int], pollers: dict[str, int] | None = None
) -> DeploymentStatus:
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
            pollers=(pollers or {}).get(s.deployment_version.build_id, 0),
        )
        for s, trades in zip(info.version_summaries, running_trades, strict=True)
    ]
    versions.sort(key=lambda v: v.created or datetime.min.replace(tzinfo=UTC), reverse=True)
    return DeploymentStatus(name=info.name, versions=versions)


@dataclass(frozen=True)
class Pollers:
    """The workers polling a task queue now, by build: identity and the time of its last poll."""

    by_build: dict[str, dict[str, datetime]]

    def after(self, build_id: str, since: datetime | None = None) -> set[str]:
        """Identities of `build_id`'s workers that polled after `since` (e.g. its retirement)."""
        return {
            identity
            for identity, polled in self.by_build.get(build_id, {}).items()
            if since is None or polled > since
        }


async def live_pollers(
    client: Client, name: str, task_queue: str, now: datetime | None = None
) -> Pollers:
    """Workers of deployment `name` that polled the task queue (for workflow or activity tasks)
    within `POLLER_WINDOW`. The server keeps a poller listed for minutes after its worker has
    gone, so its last poll's time is what says whether it is still there."""
    since = (now or datetime.now(UTC)) - POLLER_WINDOW
    by_build: dict[str, dict[str, datetime]] = {}
    for kind in (
        TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    ):
        described = await _rpc(
            client.workflow_service.describe_task_queue,
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
            ),
            f"cannot read task queue {task_queue!r}",
        )
        for poller in described.pollers if described else []:
            options = poller.deployment_options
            polled = _time(poller.last_access_time)
            if options.deployment_name != name or polled < since:
                continue
            seen = by_build.setdefault(options.build_id, {})
            seen[poller.identity] = max(polled, seen.get(poller.identity, polled))
    return Pollers(by_build)


async def retired_at(
    client: Client, name: str, build_id: str, now: datetime | None = None
) -> datetime | None:
    """Since when the build's workers are gone unless one polled after: its last worker
    stopped gracefully then (retired), or its draining last worker's lease lapsed then (it
    was killed mid-drain). None: neither."""
    return gone_cutoff(await _metadata(client, name, build_id), now or datetime.now(UTC))


def gone_cutoff(marks: dict[str, datetime], now: datetime) -> datetime | None:
    """From the build's metadata times: since when its workers are gone unless one polled
    after. Its retirement, or its drain lease once lapsed (a lease still running is a worker
    draining, alive); the later of the two."""
    gone = [marks.get(RETIRED_KEY), marks.get(DRAINING_KEY)]
    return max((t for t in gone if t is not None and t <= now), default=None)


async def _metadata(client: Client, name: str, build_id: str) -> dict[str, datetime]:
    """The build's Kripto times in its version metadata (retired, draining until)."""
    described = await _rpc(
        client.workflow_service.describe_worker_deployment_version,
        DescribeWorkerDeploymentVersionRequest(
            namespace=client.namespace,
            deployment_version=VersionMessage(deployment_name=name, build_id=build_id),
        ),
        f"cannot read build {build_id!r}",
        missing_ok=True,
    )
    if described is None:
        return {}
    entries = described.worker_deployment_version_info.metadata.entries
    marks = {}
    for key in (RETIRED_KEY, DRAINING_KEY):
        if key in entries:
            value = DataConverter.default.payload_converter.from_payload(entries[key], str)
            marks[key] = datetime.fromisoformat(value)
    return marks


async def build_pollers(client: Client, name: str, build_id: str, task_queue: str) -> set[str]:
    """The workers of one build polling now: within the window, and since its retirement."""
    polling, retired = await asyncio.gather(
        live_pollers(client, name, task_queue), retired_at(client, name, build_id)
    )
    return polling.after(build_id, retired)


async def retire(client: Client, version: WorkerDeploymentVersion) -> None:
    """Record that this build's last worker has stopped, so the next build's worker takes
    over at once (`take_over_if_abandoned`) instead of after `POLLER_WINDOW`."""
    await _mark(client, version, RETIRED_KEY, datetime.now(UTC), "retired")


async def renew_drain_lease(
    client: Client, version: WorkerDeploymentVersion, now: datetime | None = None
) -> None:
    """A draining last worker says it still lives, until `DRAIN_LEASE` from now."""
    until = (now or datetime.now(UTC)) + DRAIN_LEASE
    await _mark(client, version, DRAINING_KEY, until, "draining")


async def _mark(
    client: Client, version: WorkerDeploymentVersion, key: str, at: datetime, what: str
) -> None:
    await _rpc(
        client.workflow_service.update_worker_deployment_version_metadata,
        UpdateWorkerDeploymentVersionMetadataRequest(
            namespace=client.namespace,
            deployment_version=VersionMessage(
                deployment_name=version.deployment_name, build_id=version.build_id
            ),
            upsert_entries={
                key: DataConverter.default.payload_converter.to_payload(at.isoformat())
            },
            identity=IDENTITY,
        ),
        f"cannot mark build {version.build_id!r} {what}",
    )


async def stop_routing_to(client: Client, version: WorkerDeploymentVersion) -> bool:
    """A draining build takes no new workflows: if it is current, the deployment is left with
    no current build (new workflows wait, and the next build's first poll makes it current at
    once: `take_over_if_abandoned`). True when it was current."""
    described = await describe_deployment(client, version.deployment_name)
    if described is None:
        return False
    routing = described.worker_deployment_info.routing_config
    if routing.current_deployment_version.build_id != version.build_id:
        return False
    await _set_current(
        client, version.deployment_name, "", described.conflict_token, allow_no_pollers=True
    )
    return True


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


async def require_pollers(
    client: Client, name: str, build_id: str, task_queue: str, force: bool
) -> None:
    """Routing new workflows to a build no worker runs leaves them waiting: refused, unless
    the operator insists (`--force`, say to route ahead of workers that are starting)."""
    if force or await build_pollers(client, name, build_id, task_queue):
        return
    raise DeploymentError(
        f"BUILD: no worker of build {build_id!r} is polling task queue {task_queue!r}, so"
        " new workflows would wait for one; start its workers first, or pass --force"
    )


async def promote(
    client: Client, name: str, build_id: str, task_queue: str, force: bool = False
) -> str | None:
    """Make `build_id` current; returns the build that was current before (None if none)."""
    status = await deployment_status(client, name, task_queue)
    require_build(status, build_id)
    previous = status.current.build_id if status.current else None
    if previous != build_id:
        await require_pollers(client, name, build_id, task_queue, force)
        await _set_current(client, name, build_id, allow_no_pollers=force)
    return previous


async def ramp(
    client: Client, name: str, build_id: str, percentage: float, task_queue: str
) -> None:
    """Send `percentage`% of new workflows to `build_id`; the rest still start on the current."""
    status = await deployment_status(client, name, task_queue)
    version = require_build(status, build_id)
    if version.current:
        raise DeploymentError(f"BUILD: {build_id!r} is already current; ramp another build")
    await _set_ramping(client, name, build_id, percentage)


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


async def rollback(
    client: Client, name: str, task_queue: str, build_id: str | None = None, force: bool = False
) -> tuple[str, str]:
    """Make the previous current build current again, and end any ramp (a ramp to the build
    rolled away from would keep sending it new workflows); returns (from, to)."""
    status = await deployment_status(client, name, task_queue)
    target = rollback_target(status, build_id)
    await require_pollers(client, name, target.build_id, task_queue, force)
    previous = status.current.build_id if status.current else "-"
    await _set_current(client, name, target.build_id, allow_no_pollers=force)
    # Making the ramping build current ends its ramp on the server; a ramp of another build
    # is ended here.
    if status.ramping is not None and status.ramping.build_id != target.build_id:
        await _set_ramping(client, name, "", 0)
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


async def take_over_if_abandoned(
    client: Client, version: WorkerDeploymentVersion, task_queue: str
) -> str | None:
    """On a worker's start, and every few seconds after: make this build current when the
    current one cannot run anything: there is none (a first deploy, or its last worker is
    draining), or no worker of it polls (its last worker stopped or was killed, as `docker
    compose up -d --build` stops it), whatever is pinned to it: its pinned trades wait for a
    worker of it for `upgrade_grace`, then move here (`move_stranded_trades`). While the
    current build has workers, routing stays the operator's (`kripto deploy promote`).
    Returns a line saying what it did, or None if it left routing alone."""
    described = await wait_for_version(client, version)
    name = version.deployment_name
    current = described.worker_deployment_info.routing_config.current_deployment_version.build_id
    if current == version.build_id:
        return None
    if current and await build_pollers(client, name, current, task_queue):
        return None
    try:
        await _set_current(client, name, version.build_id, described.conflict_token)
    except DeploymentError:
        # Another worker changed the routing between our describe and set: theirs stands.
        again = await describe_deployment(client, name)
        if again is None or not again.worker_deployment_info.routing_config.HasField(
            "current_deployment_version"
        ):
            raise
        return None
    if not current:
        line = f"build {version.build_id} is current: the deployment had no current build"
    else:
        pinned = await running_trades(client, name, current)
        line = f"build {version.build_id} is current: build {current} had no workers polling" + (
            f"; its {pinned} running trade(s) move here if none comes back" if pinned else ""
        )
    log.info("deployment %s: %s", name, line)
    return line


async def move_stranded_trades(
    client: Client,
    version: WorkerDeploymentVersion,
    task_queue: str,
    grace: timedelta,
    gone_since: dict[str, datetime],
    now: datetime | None = None,
) -> list[str]:
    """Run by the current build's workers every few seconds: trades still pinned to a build
    that has had no workers for `grace` (counted from when this worker first saw it without
    any; `gone_since` keeps that between calls) are moved to this build, the current one, by
    a pinned versioning override. The trade replays its history here and carries on: a step
    its old build had started is retried here once its timeout passes, and finds its earlier
    work by the trade's key. Only trades of builds older than this one move: newer code
    replays older histories (`workflow.patched`), never the other way round, so after a
    rollback a newer build's trades wait for a worker of their own build. Returns a line per
    trade moved."""
    now = now or datetime.now(UTC)
    name = version.deployment_name
    described = await describe_deployment(client, name)
    if described is None:
        return []
    info = described.worker_deployment_info
    if info.routing_config.current_deployment_version.build_id != version.build_id:
        return []  # only the current build takes trades over
    created = {
        s.deployment_version.build_id: _time(s.create_time)
        for s in info.version_summaries
        if s.HasField("create_time")
    }
    mine = created.get(version.build_id)
    lines = []
    for summary in info.version_summaries:
        build = summary.deployment_version.build_id
        if build == version.build_id:
            continue
        if mine is None or build not in created or created[build] > mine:
            continue  # a newer build (a rollback): its trades wait for its own workers
        if not await running_trades(client, name, build):
            gone_since.pop(build, None)
            continue
        if await build_pollers(client, name, build, task_queue):
            gone_since.pop(build, None)
            continue
        since = gone_since.setdefault(build, now)
        if now - since < grace:
            continue
        async for trade in client.list_workflows(pinned_trades_query(name, build)):
            await pin_to(client, trade.id, version)
            line = (
                f"trade {trade.id} moved from build {build} (no workers for"
                f" {(now - since).total_seconds():.0f}s) to build {version.build_id}"
            )
            log.warning("deployment %s: %s", name, line)
            lines.append(line)
    return lines


async def pin_to(client: Client, workflow_id: str, version: WorkerDeploymentVersion) -> None:
    """Override the workflow's pinned build: its tasks go to `version`'s workers from now on."""
    await _rpc(
        client.workflow_service.update_workflow_execution_options,
        UpdateWorkflowExecutionOptionsRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            workflow_execution_options=WorkflowExecutionOptions(
                versioning_override=VersioningOverride(
                    pinned=VersioningOverride.PinnedOverride(
                        behavior=VersioningOverride.PINNED_OVERRIDE_BEHAVIOR_PINNED,
                        version=VersionMessage(
                            deployment_name=version.deployment_name, build_id=version.build_id
                        ),
                    )
                )
            ),
            update_mask=FieldMask(paths=["versioning_override"]),
            identity=IDENTITY,
        ),
        f"cannot move trade {workflow_id} to build {version.build_id!r}",
    )


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
    client: Client,
    name: str,
    build_id: str,
    conflict_token: bytes = b"",
    allow_no_pollers: bool = False,
) -> None:
    await _rpc(
        client.workflow_service.set_worker_deployment_current_version,
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=name,
            build_id=build_id,
            conflict_token=conflict_token,
            identity=IDENTITY,
            allow_no_pollers=allow_no_pollers,
        ),
        f"cannot make {build_id!r} current",
    )
    await routing_propagated(client, name)


async def _set_ramping(client: Client, name: str, build_id: str, percentage: float) -> None:
    """Ramp `build_id`; an empty `build_id` ends the ramp."""
    await _rpc(
        client.workflow_service.set_worker_deployment_ramping_version,
        SetWorkerDeploymentRampingVersionRequest(
            namespace=client.namespace,
            deployment_name=name,
            build_id=build_id,
            percentage=percentage,
            identity=IDENTITY,
        ),
        f"cannot ramp {build_id!r}" if build_id else "cannot end the ramp",
    )
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
