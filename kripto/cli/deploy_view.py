"""How `kripto deploy status` shows a Worker Deployment: a table for the terminal and JSON.
What it shows comes from `kripto.runtime.deployments`, which talks to the server."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from kripto.runtime.deployments import DeploymentStatus, VersionStatus


def status_json(status: DeploymentStatus) -> dict[str, Any]:
    def version(v: VersionStatus) -> dict[str, Any]:
        data = asdict(v)
        data["rampPercentage"] = data.pop("ramp_percentage")
        data["buildId"] = data.pop("build_id")
        data["runningTrades"] = data.pop("running_trades")
        data["lastCurrent"] = iso(data.pop("last_current"))
        data["created"] = iso(data["created"])
        return data

    current, ramping = status.current, status.ramping
    return {
        "deployment": status.name,
        "current": current.build_id if current else None,
        "ramping": ramping.build_id if ramping else None,
        "rampPercentage": ramping.ramp_percentage if ramping else None,
        "versions": [version(v) for v in status.versions],
    }


def format_status(status: DeploymentStatus) -> str:
    """A plain table, newest build first, for `kripto deploy status`."""
    rows = [("BUILD", "ROUTING", "POLLERS", "DRAINAGE", "RUNNING TRADES", "CREATED")]
    rows += [
        (
            v.build_id,
            v.routing,
            str(v.pollers),
            v.drainage,
            str(v.running_trades),
            iso(v.created) or "-",
        )
        for v in status.versions
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"deployment {status.name}"]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    current = status.current
    if current is None:
        lines.append("no current build: new workflows wait for one (kripto deploy promote BUILD)")
    elif current.pollers == 0:
        lines.append(
            f"no worker of the current build {current.build_id} is polling: new workflows wait"
            " for one (start its workers, or kripto deploy promote BUILD)"
        )
    return "\n".join(lines)


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
