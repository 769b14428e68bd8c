"""Sending a notification from outside a workflow (the CLI, the dashboard, an activity): start
its NotifyWorkflow under the event's key. A second start of the same event is a no-op, and
nothing starts when no channel is configured."""

from __future__ import annotations

import logging

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from kripto.notify.events import Notify
from kripto.notify.wiring import notifications_on
from kripto.settings import Settings

log = logging.getLogger(__name__)


async def notify(client: Client, settings: Settings, event: Notify) -> bool:
    """True if this call started the event's notification."""
    if not notifications_on(settings):
        return False
    from workflows.notify import NotifyWorkflow

    try:
        await client.start_workflow(
            NotifyWorkflow.run,
            event,
            id=event.workflow_id,
            task_queue=settings.temporal.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"notify: {event.kind}",
        )
    except WorkflowAlreadyStartedError:
        log.info("notification %s was started before", event.key)
        return False
    return True
