"""What a worker starts for notifications, idempotently, so that no second process is needed:
the daily summary's schedule, and the Telegram bot's long-polling workflow."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from kripto.notify.commands import BotPoll
from kripto.notify.telegram import TelegramApi, TelegramRefused, TelegramUnavailable
from kripto.notify.wiring import bot_on, notifications_on
from kripto.settings import Settings, SettingsError
from workflows.notify import DailySummaryWorkflow
from workflows.telegram_bot import TelegramBotWorkflow, bot_workflow_id


def summary_schedule_id(task_queue: str) -> str:
    return f"kripto-daily-summary-{task_queue}"


async def ensure_phone(client: Client, settings: Settings) -> list[str]:
    """Lines for the worker's start-up output."""
    said = []
    if notifications_on(settings):
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                DailySummaryWorkflow.run,
                id=f"daily-summary-{settings.temporal.task_queue}",
                task_queue=settings.temporal.task_queue,
                static_summary="Kripto's daily summary",
            ),
            spec=ScheduleSpec(cron_expressions=[settings.notifications.daily_summary_cron]),
        )
        sid = summary_schedule_id(settings.temporal.task_queue)
        try:
            await client.create_schedule(sid, schedule)
        except ScheduleAlreadyRunningError:

            def update(input: ScheduleUpdateInput) -> ScheduleUpdate:
                schedule.state = input.description.schedule.state
                return ScheduleUpdate(schedule=schedule)

            await client.get_schedule_handle(sid).update(update)
        said.append(
            f"daily summary: schedule {sid} ({settings.notifications.daily_summary_cron} UTC)"
        )
    if bot_on(settings):
        await client.start_workflow(
            TelegramBotWorkflow.run,
            BotPoll(),
            id=bot_workflow_id(settings.temporal.task_queue),
            task_queue=settings.temporal.task_queue,
            # One bot, whichever worker starts first; a bot that ended is started again.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary="Telegram bot (long polling)",
        )
        said.append(f"Telegram bot: workflow {bot_workflow_id(settings.temporal.task_queue)}")
    return said


async def check_token(api: TelegramApi) -> str:
    """`getMe` at start-up: a refused token stops the worker with one line (SettingsError)
    rather than being retried for ever; Telegram out of reach is a line, and the bot retries."""
    try:
        me = await api.get_me()
    except TelegramRefused as exc:
        raise SettingsError(
            f"KRIPTO_TELEGRAM_BOT_TOKEN: Telegram refused the token ({exc}); copy it again from"
            " @BotFather, or unset it to run without the bot"
        ) from None
    except TelegramUnavailable as exc:
        return f"Telegram bot: Telegram did not answer getMe ({exc}); the bot keeps trying"
    return f"Telegram bot: @{me.get('username', '?')} (getMe answered)"
