"""What every mailer takes and returns: a rendered email in, a message ID out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RenderedEmail:
    """One email, ready to send: its subject, a plain-text part and an HTML part."""

    subject: str
    text: str
    html: str


class Mailer(Protocol):
    """Sends a rendered email. Raises kripto.errors.RetryableError when a retry may succeed and
    a NonRetryableError when it cannot."""

    async def send(self, *, to: str, sender: str, email: RenderedEmail, key: str) -> str:
        """Send one email; `key` names it (the trade's key). Returns the message ID."""
        ...
