"""Comparing the exchange with the books on demand (`kripto reconcile`): one ReconcileWorkflow
run, as the schedule's, returning its report."""

from __future__ import annotations

import uuid
from datetime import datetime

from temporalio.client import Client, WorkflowFailureError

from kripto.errors import KriptoError
from kripto.flows.reconcile import Rebase, ReconcileReport, ReconcileRequest
from kripto.settings import Settings
from kripto.temporal.failures import root_cause
from workflows.reconcile import ReconcileWorkflow


class ReconcileFailed(KriptoError):
    """The run failed; the message is its root cause."""


async def reconcile(
    client: Client,
    settings: Settings,
    since: datetime | None,
    *,
    rebase: Rebase | None = None,
    by: str = "kripto reconcile",
) -> ReconcileReport:
    """One run from `since` (default: KRIPTO_RECONCILE_LOOKBACK ago); with `rebase`, taking
    new balance baselines."""
    try:
        return await client.execute_workflow(
            ReconcileWorkflow.run,
            ReconcileRequest(since=since, rebase=rebase),
            id=f"reconcile-cli-{uuid.uuid4()}",
            task_queue=settings.temporal.task_queue,
            static_summary=f"compare the exchange with the books ({by})",
        )
    except WorkflowFailureError as exc:
        raise ReconcileFailed(root_cause(exc)) from None
