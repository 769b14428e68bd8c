"""Workflow types this build no longer runs, and the start-up check that none is still open.

A retired type's code is gone, so an open run of it (started by an older build, or by a
schedule of one) could never finish here: a worker that finds one refuses to start, naming the
command that ends them. How to retire a type: docs/architecture.md ("Retiring a workflow type")."""

from __future__ import annotations

from temporalio.client import Client

from kripto.errors import KriptoError

#: Retired workflow types: the per-product tick and its children (replaced by the exchange
#: tick, ExchangeTickWorkflow, and its StoreRatesWorkflow and DecideMarketsWorkflow).
RETIRED_WORKFLOWS: tuple[str, ...] = (
    "RateTickWorkflow",
    "StoreRateWorkflow",
    "DecideTradeWorkflow",
)


class RetiredWorkflowsOpen(KriptoError):
    """Open runs of a retired workflow type on this worker's task queue."""


def open_retired_query(task_queue: str, types: tuple[str, ...] = RETIRED_WORKFLOWS) -> str:
    listed = ", ".join(f"'{t}'" for t in types)
    return (
        f"WorkflowType IN ({listed}) AND ExecutionStatus = 'Running' AND TaskQueue = '{task_queue}'"
    )


async def refuse_retired_runs(
    client: Client, task_queue: str, types: tuple[str, ...] = RETIRED_WORKFLOWS
) -> None:
    """Raise RetiredWorkflowsOpen, in one line naming the command that ends them, when any
    run of a retired type is still open on the task queue."""
    if not types:
        return
    query = open_retired_query(task_queue, types)
    found: list[str] = []
    async for execution in client.list_workflows(query, limit=3):
        found.append(f"{execution.workflow_type} {execution.id}")
    if not found:
        return
    count = (await client.count_workflows(query)).count
    raise RetiredWorkflowsOpen(
        f"{count} open run(s) of retired workflow types on task queue {task_queue!r}"
        f" ({', '.join(found)}{', ...' if count > len(found) else ''}); this build cannot run"
        " them: finish them with the build that started them, or end them with"
        f' `temporal workflow terminate --query "{query}" --reason retired --yes`'
        " (docs/architecture.md: Retiring a workflow type)"
    )
