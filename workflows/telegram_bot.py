"""The Telegram bot's long polling, run durably: getUpdates from the offset, handle each
update, move the offset past it, and continue as new every `polls_per_run` polls (200) so the
history stays small. The offset is the workflow's state; a worker killed mid-poll is
replaced by another that asks from the same offset, and Telegram hands back any update not
yet confirmed (each handled update's answer is keyed by its ID, so none is answered twice)."""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from kripto.notify.commands import BotPoll
    from workflows.inputs import decoded

BOT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


def bot_workflow_id(task_queue: str) -> str:
    return f"telegram-bot-{task_queue}"


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class TelegramBotWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> None:
        poll = decoded(BotPoll, args)
        offset = poll.offset
        for _ in range(poll.polls_per_run):
            polled = await workflow.execute_activity(
                interfaces.poll_updates,
                BotPoll(offset=offset),
                # A long poll waits up to KRIPTO_TELEGRAM_POLL_TIMEOUT; the heartbeat notices a
                # dead worker within seconds.
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(seconds=5),
                retry_policy=BOT_RETRY,
            )
            for update in polled.updates:
                try:
                    await workflow.execute_activity(
                        interfaces.handle_update,
                        update,
                        start_to_close_timeout=timedelta(minutes=1),
                        heartbeat_timeout=timedelta(seconds=5),
                        retry_policy=RetryPolicy(
                            maximum_interval=timedelta(seconds=30), maximum_attempts=10
                        ),
                    )
                except ActivityError as err:
                    # One update the bot cannot answer must not stop the bot.
                    workflow.logger.warning("update %s not handled: %s", update.update_id, err)
            offset = polled.next_offset
            if workflow.info().is_continue_as_new_suggested():
                break
        workflow.continue_as_new(BotPoll(offset=offset, polls_per_run=poll.polls_per_run))
