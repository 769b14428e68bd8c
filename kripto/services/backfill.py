"""A backfill of a product's price history as a person runs it (`kripto history backfill`):
started (or found running), followed, and cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError

from kripto.errors import KriptoError
from kripto.flows.backfill import BackfillInput, BackfillProgress
from kripto.runtime.backfill import start_backfill
from kripto.settings import Settings

Backfill = WorkflowHandle[Any, BackfillProgress]


class BackfillCancelled(KriptoError):
    """The backfill was cancelled before it finished (the minutes it stored stay)."""


async def start(client: Client, settings: Settings, input: BackfillInput) -> Backfill:
    return await start_backfill(client, settings, input)


async def finished(backfill: Backfill) -> BackfillProgress:
    """Its final progress once it has finished; BackfillCancelled if it was cancelled."""
    try:
        return await backfill.result()
    except WorkflowFailureError as exc:
        if isinstance(exc.cause, CancelledError):
            raise BackfillCancelled(f"{backfill.id} was cancelled before it finished") from None
        raise


async def progress(backfill: Backfill) -> BackfillProgress | None:
    """Where it is (None between runs, or with no worker yet: ask again)."""
    try:
        found: BackfillProgress | None = await backfill.query(
            "progress", result_type=BackfillProgress
        )
        return found
    except RPCError:
        return None


@dataclass(frozen=True)
class Retrying:
    attempt: int
    error: str
    next_try: datetime | None


async def retrying(backfill: Backfill) -> Retrying | None:
    """Why it is waiting, from its pending activity (None while nothing is failing)."""
    try:
        described = await backfill.describe()
    except RPCError:
        return None
    for pending in described.raw_description.pending_activities:
        if pending.attempt > 1 and pending.HasField("last_failure"):
            next_try = None
            if pending.HasField("next_attempt_schedule_time"):
                next_try = pending.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
            return Retrying(pending.attempt, pending.last_failure.message, next_try)
    return None


async def cancel_running(client: Client, product: str) -> list[str]:
    """Cancel every running backfill of `product` (its IDs start `backfill-<product>-`)."""
    prefix = f"backfill-{product}-"
    query = "WorkflowType = 'BackfillWorkflow' AND ExecutionStatus = 'Running'"
    cancelled = []
    async for execution in client.list_workflows(query):
        if execution.id.startswith(prefix):
            await client.get_workflow_handle(execution.id).cancel()
            cancelled.append(execution.id)
    return cancelled
