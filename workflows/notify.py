"""notify: send one notification to every channel, once per channel (kripto/notify/sender.py),
and the daily summary that a schedule starts.

`start_notification(event)` is how another workflow sends one: it starts a NotifyWorkflow
child under the event's key and abandons it, so the caller never waits on Telegram or a
webhook, and a replayed or repeated caller starts nothing twice."""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from kripto.notify.events import Notify, NotifyResult, SummaryDay
    from workflows.inputs import decoded

#: A channel that is down is tried again for up to six hours, backing off to every 5 minutes.
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
SEND_DEADLINE = timedelta(hours=6)


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class NotifyWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> NotifyResult:
        event = decoded(Notify, args)
        return await workflow.execute_activity(
            interfaces.send_notification,
            event,
            start_to_close_timeout=timedelta(minutes=2),
            schedule_to_close_timeout=SEND_DEADLINE,
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=SEND_RETRY,
            summary=f"{event.kind}: {event.key}",
        )


async def start_notification(event: Notify) -> None:
    """From inside a workflow: send `event` without waiting for it to be delivered."""
    try:
        await workflow.start_child_workflow(
            NotifyWorkflow.run,
            event,
            id=event.workflow_id,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=f"notify: {event.kind}",
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.info("notification %s was started before", event.key)


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class DailySummaryWorkflow:
    """Started by the `kripto-daily-summary` schedule: the summary of the day it runs on (UTC),
    keyed by that day, so a re-run of the same day sends nothing twice."""

    @workflow.run
    async def run(self, *args: Any) -> NotifyResult:
        day = decoded(SummaryDay, args or [{"day": workflow.now().date().isoformat()}])
        return await workflow.execute_activity(
            interfaces.send_daily_summary,
            day,
            start_to_close_timeout=timedelta(minutes=2),
            schedule_to_close_timeout=SEND_DEADLINE,
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=SEND_RETRY,
        )
