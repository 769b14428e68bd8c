"""The "Stop trading" link in every receipt: an HMAC-signed URL that pauses the schedules.

A link names an ID and an expiry and carries their HMAC-SHA256 under KRIPTO_STOP_LINK_SECRET,
so only Kripto can make one and nobody can stretch its life. Both are derived from the trade
(the ID from its key, the expiry from when its order was made), so a retried receipt carries
the same link. It works once: the dashboard records each used ID in Postgres."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

LIFETIME = timedelta(days=7)


class StopLinkError(Exception):
    """A stop link that must not work; the message says why, for the person who opened it."""


@dataclass(frozen=True)
class StopLink:
    link_id: str
    expires: datetime

    @property
    def expires_epoch(self) -> int:
        return int(self.expires.timestamp())


def _mac(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class StopLinkSigner:
    def __init__(self, secret: str, base_url: str) -> None:
        if len(secret) < 16:
            raise ValueError("KRIPTO_STOP_LINK_SECRET must be at least 16 characters")
        self._secret = secret.encode()
        self.base_url = base_url.rstrip("/")

    def link_for(self, trade_id: str, made_at: datetime) -> StopLink:
        link_id = _mac(self._secret, f"link-id:{trade_id}")[:22]
        return StopLink(link_id, (made_at + LIFETIME).astimezone(UTC).replace(microsecond=0))

    def token(self, link: StopLink) -> str:
        body = f"{link.link_id}.{link.expires_epoch}"
        return f"{body}.{_mac(self._secret, body)}"

    def url(self, trade_id: str, made_at: datetime) -> str:
        return f"{self.base_url}/stop/{self.token(self.link_for(trade_id, made_at))}"

    def verify(self, token: str, now: datetime) -> StopLink:
        """The link a token names, if its signature holds and it has not expired."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            raise StopLinkError("This is not a stop link (it is malformed).")
        link_id, epoch, mac = parts
        # As bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, so a
        # 500), and a tampered link may carry any.
        expected = _mac(self._secret, f"{link_id}.{epoch}").encode()
        if not hmac.compare_digest(mac.encode("utf-8", "replace"), expected):
            raise StopLinkError("This stop link's signature is wrong; it was not made by Kripto.")
        expires = datetime.fromtimestamp(int(epoch), tz=UTC)
        if now >= expires:
            raise StopLinkError(f"This stop link expired at {expires:%Y-%m-%d %H:%M} UTC.")
        return StopLink(link_id, expires)
