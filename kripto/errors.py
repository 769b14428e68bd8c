"""Error types. Retryable and non-retryable failures are different classes, so an activity
can translate them into Temporal's retry semantics in one place."""

from __future__ import annotations


class KriptoError(Exception):
    """Base class for Kripto's own errors."""


class SettingsError(Exception):
    """Settings that cannot work. Its message names the setting; the CLI prints just that.
    (Here rather than in kripto.settings, so the plumbing can raise it without loading the
    settings and pydantic_settings.)"""


class RetryableError(KriptoError):
    """A failure that may pass on its own: a timeout, a 5xx, a 429, a dropped connection."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExchangeUnavailable(RetryableError):
    """The exchange did not answer, or refused us (any HTTP error, 401/403 included), while an
    order may exist: only the exchange's own verdict ends a placed trade, so this is retried
    with backoff for as long as it lasts (counted, logged and alerted on while it does)."""


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


class PostOnlyWouldCross(OrderRejected):
    """A post-only limit order refused because it would have crossed the book and taken
    liquidity (Coinbase's INVALID_LIMIT_PRICE_POST_ONLY): nothing was placed, and the key may
    be used again at a new price (a re-quote uses the next derived client order ID)."""

    kind = "PostOnlyWouldCross"


class ClockSkewed(NonRetryableError):
    """This machine's clock differs from the exchange's by more than KRIPTO_MAX_CLOCK_SKEW:
    a maker order's end time could already be past, so maker orders are refused."""

    kind = "ClockSkewed"


class NotPlaced(NonRetryableError):
    """The checks before a trade's key is claimed kept failing: nothing was placed."""

    kind = "NotPlaced"


class OrderUnfilled(OrderRejected):
    """The exchange ended the order with nothing filled: the order exists (its key stays
    claimed), but it never became a trade."""


class BadCredentials(NonRetryableError):
    kind = "BadCredentials"


class TickTooLate(NonRetryableError):
    """A tick asked for a live price long after its minute: the price read now would be stored
    under the wrong minute, so the tick is skipped instead."""

    kind = "TickTooLate"


class FeedError(RetryableError):
    """The rate feed could not give a usable price (down, slow, or garbage)."""
