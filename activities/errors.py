"""One place where Kripto's error types become Temporal's retry semantics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from kripto.errors import NonRetryableError, RetryableError


@contextmanager
def temporal_errors() -> Iterator[None]:
    """Non-retryable errors fail the activity at once; retryable ones keep their message and
    any server-given delay (Retry-After) for the next attempt."""
    try:
        yield
    except NonRetryableError as exc:
        raise ApplicationError(str(exc), type=exc.kind, non_retryable=True) from None
    except RetryableError as exc:
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        raise ApplicationError(str(exc), type=type(exc).__name__, next_retry_delay=delay) from None
