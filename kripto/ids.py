"""Workflow IDs derived from the tick, so retrying or replaying a tick reuses them."""

from datetime import UTC, datetime


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The exchange every product is priced on (and ticked with).
EXCHANGE = "coinbase"


#: The default task queue: its schedules have the plain IDs.
DEFAULT_TASK_QUEUE = "kripto"


def schedule_id(product_id: str, task_queue: str = DEFAULT_TASK_QUEUE) -> str:
    """The schedule that ticks a product: its exchange's (pausing it is the kill switch)."""
    return exchange_schedule_id(EXCHANGE, task_queue)


def legacy_schedule_id(product_id: str) -> str:
    """A product's own schedule, from before one tick per exchange (replaced on
    `kripto schedule create` and `kripto dev`)."""
    return f"kripto-rates-{product_id}"


def decide_id(product_id: str, at: datetime) -> str:
    return f"decide-{product_id}-{stamp(at)}"


def trade_id_for_decision(decision_id: str) -> str:
    return f"trade-{decision_id.removeprefix('decide-')}"


#: The reconciler's schedule, and its runs' workflow ID prefix.
RECONCILE_SCHEDULE_ID = "kripto-reconcile"
RECONCILE_WORKFLOW_ID = "reconcile"


def reconcile_schedule_id(task_queue: str = DEFAULT_TASK_QUEUE) -> str:
    """The reconciler's schedule (per task queue, as the exchange's tick schedule is)."""
    suffix = "" if task_queue == DEFAULT_TASK_QUEUE else f"-{task_queue}"
    return f"{RECONCILE_SCHEDULE_ID}{suffix}"


def reconcile_at_start_id(at: datetime, task_queue: str = DEFAULT_TASK_QUEUE) -> str:
    """The reconciliation a worker starts with: one per minute (and task queue: two Kripto
    deployments sharing a namespace each reconcile their own books), however many start."""
    suffix = "" if task_queue == DEFAULT_TASK_QUEUE else f"-{task_queue}"
    return f"reconcile-at-start-{at.astimezone(UTC).strftime('%Y-%m-%dT%H:%MZ')}{suffix}"


def exchange_schedule_id(exchange: str, task_queue: str = DEFAULT_TASK_QUEUE) -> str:
    """One schedule per exchange (and task queue: two Kripto deployments sharing a namespace,
    or two tests sharing a server, must not share it): it ticks every product configured."""
    suffix = "" if task_queue == DEFAULT_TASK_QUEUE else f"-{task_queue}"
    return f"kripto-ticks-{exchange}{suffix}"


def exchange_tick_id(exchange: str) -> str:
    """The exchange schedule's workflow ID prefix (`tick-coinbase-<scheduled time>`)."""
    return f"tick-{exchange}"


def store_rates_id(exchange: str, at: datetime) -> str:
    return f"store-rates-{exchange}-{stamp(at)}"


def decide_markets_id(exchange: str, at: datetime) -> str:
    return f"decide-{exchange}-{stamp(at)}"
