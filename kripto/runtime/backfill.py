"""Starting (or re-attaching to) a backfill: one workflow per product and span.

The span ends on a whole hour, so the same `kripto history backfill --days N` run twice within
the hour names the same workflow: a running one is attached to (USE_EXISTING), a finished one
is not run again (REJECT_DUPLICATE) and its result is read back instead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from kripto.models import BackfillInput, BackfillProgress
from kripto.settings import Settings


def backfill_span(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last `days` days, ending at the start of the current hour (UTC)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    end = now.replace(minute=0, second=0, microsecond=0)
    return end - timedelta(days=days), end


def backfill_id(product_id: str, start: datetime, end: datetime) -> str:
    return f"backfill-{product_id}-{start:%Y%m%dT%H%MZ}-{end:%Y%m%dT%H%MZ}"


async def start_backfill(
    client: Client, settings: Settings, input: BackfillInput
) -> WorkflowHandle[Any, BackfillProgress]:
    """The backfill's handle: started now, or the one already running or done under its ID."""
    workflow_id = backfill_id(input.product_id, input.start, input.end)
    try:
        return await client.start_workflow(
            "BackfillWorkflow",
            input,
            id=workflow_id,
            task_queue=settings.temporal.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            result_type=BackfillProgress,
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id, result_type=BackfillProgress)
