"""`kripto deploy`: see and move the routing of the Worker Deployment (KRIPTO_DEPLOYMENT_NAME).
A new build's workers poll but take no new workflows until it is promoted (or ramped)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from temporalio.client import Client
from temporalio.service import RPCError

from kripto.cli.common import DataDir, connect, console, fail, print_json, run, settings_for
from kripto.cli.deploy_view import format_status, status_json
from kripto.runtime.deployments import (
    DeploymentError,
    DeploymentStatus,
    check_percentage,
    deployment_status,
    promote,
    ramp,
    rollback,
)
from kripto.settings import Settings

deploy_app = typer.Typer(
    help="Worker Versioning: which build new workflows start on; promote, ramp, roll back."
)
T = TypeVar("T")
Build = Annotated[
    str, typer.Argument(metavar="BUILD", help="A build ID from `kripto deploy status`.")
]
Force = Annotated[
    bool,
    typer.Option("--force", help="Route to the build even with no worker of it polling."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(deploy_app, name="deploy")


def _call(settings: Settings, action: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        return await action(await connect(settings))

    try:
        return run(go())
    except DeploymentError as exc:
        raise fail(str(exc)) from None
    except RPCError as exc:  # e.g. a server without Worker Deployments
        raise fail(f"Temporal at {settings.temporal.temporal_address}: {exc.message}") from None


@deploy_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Every build of the deployment: routing (current / ramping %), drainage, running trades."""
    settings = settings_for(data_dir)
    result: DeploymentStatus = _call(
        settings,
        lambda client: deployment_status(
            client, settings.temporal.deployment_name, settings.temporal.task_queue
        ),
    )
    if as_json:
        print_json(status_json(result))
    else:
        console.print(format_status(result), highlight=False, soft_wrap=True)


@deploy_app.command("promote")
def promote_build(build: Build, force: Force = False, data_dir: DataDir = None) -> None:
    """Make BUILD current: every new workflow starts on it; pinned trades finish where they are."""
    settings = settings_for(data_dir)
    previous = _call(
        settings,
        lambda client: promote(
            client,
            settings.temporal.deployment_name,
            build,
            settings.temporal.task_queue,
            force=force,
        ),
    )
    if previous == build:
        console.print(f"{build} is already current", highlight=False)
    else:
        console.print(f"{build} is current (was {previous or 'none'})", highlight=False)


@deploy_app.command("ramp")
def ramp_build(
    build: Build,
    pct: Annotated[str, typer.Argument(metavar="PCT", help="Percent of new workflows, 0-100.")],
    data_dir: DataDir = None,
) -> None:
    """Start PCT% of new workflows on BUILD, the rest on the current build."""
    try:
        percentage = check_percentage(pct)
    except DeploymentError as exc:
        raise fail(str(exc)) from None
    settings = settings_for(data_dir)
    _call(
        settings,
        lambda client: ramp(
            client,
            settings.temporal.deployment_name,
            build,
            percentage,
            settings.temporal.task_queue,
        ),
    )
    console.print(f"{build} is ramping: {percentage:g}% of new workflows start on it")


@deploy_app.command("rollback")
def rollback_build(
    build: Annotated[
        str | None,
        typer.Argument(
            metavar="[BUILD]", help="The build to return to; default: the previous current one."
        ),
    ] = None,
    force: Force = False,
    data_dir: DataDir = None,
) -> None:
    """Make the previous current build current again, and end any ramp."""
    settings = settings_for(data_dir)
    before, after = _call(
        settings,
        lambda client: rollback(
            client,
            settings.temporal.deployment_name,
            settings.temporal.task_queue,
            build,
            force=force,
        ),
    )
    console.print(f"rolled back: {after} is current (was {before})", highlight=False)
