"""Error types. Retryable and non-retryable failures are different classes, so an activity
can translate them into Temporal's retry semantics in one place."""

from __future__ import annotations


class KriptoError(Exception):
    """Base class for Kripto's own errors."""


class RetryableError(KriptoError):
    """A failure that may pass on its own: a timeout, a 5xx, a 429, a dropped connection."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NonRetryableError(KriptoError):
    """A failure that retrying cannot fix: bad input, insufficient funds, bad credentials."""

    #: A short, stable name, used as the Temporal ApplicationError type.
    kind: str = "NonRetryable"


class InvalidInput(NonRetryableError):
    kind = "InvalidInput"


class KeyReused(NonRetryableError):
    """A trade key already used for a different trade: retrying the same request cannot help."""

    kind = "KeyReused"


class InsufficientFunds(NonRetryableError):
    kind = "InsufficientFunds"


class OrderRejected(NonRetryableError):
    kind = "OrderRejected"


class BadCredentials(NonRetryableError):
    kind = "BadCredentials"


class TickTooLate(NonRetryableError):
    """A tick asked for a live price long after its minute: the price read now would be stored
    under the wrong minute, so the tick is skipped instead."""

    kind = "TickTooLate"


class FeedError(RetryableError):
    """The rate feed could not give a usable price (down, slow, or garbage)."""
