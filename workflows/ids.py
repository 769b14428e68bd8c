"""Workflow IDs derived from the tick, so retrying or replaying a tick reuses them."""

from datetime import UTC, datetime


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule_id(product_id: str) -> str:
    return f"kripto-rates-{product_id}"


def tick_workflow_id(product_id: str) -> str:
    """The schedule's workflow ID prefix; Temporal appends the scheduled time to each run."""
    return f"rate-tick-{product_id}"


def store_rate_id(product_id: str, at: datetime) -> str:
    return f"store-rate-{product_id}-{stamp(at)}"


def decide_id(product_id: str, at: datetime) -> str:
    return f"decide-{product_id}-{stamp(at)}"


def trade_id_for_decision(decision_id: str) -> str:
    return f"trade-{decision_id.removeprefix('decide-')}"


#: The reconciler's schedule, and its runs' workflow ID prefix.
RECONCILE_SCHEDULE_ID = "kripto-reconcile"
RECONCILE_WORKFLOW_ID = "reconcile"


def reconcile_at_start_id(at: datetime) -> str:
    """The reconciliation a worker starts with: one per minute, however many workers start."""
    return f"reconcile-at-start-{at.astimezone(UTC).strftime('%Y-%m-%dT%H:%MZ')}"
