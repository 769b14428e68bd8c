"""Logging for the worker and `kripto dev`: one line per event, with the workflow it belongs to.

- `text` (KRIPTO_LOG_FORMAT=text, the default) for people; `json` for a log collector, one
  object per line with `workflow_id`, `workflow_type`, `activity_type` and `attempt` as fields.
- The workflow and activity IDs come from the Temporal SDK's loggers (`workflow.logger`,
  `activity.logger`), which put them in the record's `extra`; they are not repeated in the text.
- An `ApplicationError` is an outcome we named (insufficient funds, a rejected order, a reused
  key, bad input, Postgres down for now): the SDK's "Completing activity as failed" becomes one
  line with its kind and message. Any other exception is a bug and keeps its traceback.
- Every secret the settings hold is masked in every line, tracebacks included.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

from kripto.masking import MASK, mask, secret_values
from kripto.settings import Settings

__all__ = ["MASK", "configure_logging", "mask", "secrets_of"]

_HANDLER = "kripto"
#: Loggers whose INFO lines are events we want: ours, and the SDK's workflow and activity
#: loggers that our workflows and activities write through. Everything else stays at WARNING.
EVENT_LOGGERS = ("kripto", "workflows", "activities", "temporalio.workflow", "temporalio.activity")


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold (kripto.masking, the one list of them)."""
    return secret_values(settings)


class NamedOutcomes(logging.Filter):
    """An activity that failed with an ApplicationError logs one line, not a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ApplicationError):
            err = record.exc_info[1]
            then = "not retried" if err.non_retryable else "will retry"
            record.msg = (
                f"activity failed ({err.type or 'ApplicationError'}, {then}): {err.message}"
            )
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _context(record: logging.LogRecord) -> dict[str, Any]:
    """The workflow (and activity) a record belongs to, from the SDK's `extra`."""
    details: dict[str, Any] = {}
    wf = getattr(record, "temporal_workflow", None)
    act = getattr(record, "temporal_activity", None)
    if isinstance(wf, dict):
        details["workflow_id"] = wf.get("workflow_id")
        details["workflow_type"] = wf.get("workflow_type")
    if isinstance(act, dict):
        details["workflow_id"] = act.get("workflow_id")
        details["workflow_type"] = act.get("workflow_type")
        details["activity_type"] = act.get("activity_type")
        details["attempt"] = act.get("attempt")
    return {k: v for k, v in details.items() if v is not None}


class TextFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.secrets = list(secrets)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = _context(record)
        if "workflow_id" in context:
            where = context["workflow_id"]
            if "activity_type" in context:
                where += f" {context['activity_type']}#{context['attempt']}"
            first, _, rest = line.partition("\n")
            line = f"{first} [{where}]" + (f"\n{rest}" if rest else "")
        return mask(line, self.secrets)


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return mask(json.dumps(entry, default=str), self.secrets)


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Send every log line to `stream` (stderr) in the format the settings ask for."""
    secrets = secrets_of(settings)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter(secrets) if settings.metrics.log_format == "json" else TextFormatter(secrets)
    )
    handler.addFilter(NamedOutcomes())
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:
        root.removeHandler(old)  # configured again: replace ours, leave others' handlers
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in EVENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    # The IDs go in their own place (the formatters above), not appended to every message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    return handler
