"""Who may change things from the web: a session that logged in with KRIPTO_DASHBOARD_TOKEN,
holding a per-session CSRF token, posting from this dashboard's own origin.

Sessions live in the dashboard process (a restart logs everyone out, which is the safe way
round). The session cookie is HttpOnly and SameSite=Strict, so another site can neither read
it nor make the browser send it with a forged request; the CSRF token and the Origin check are
the second and third locks on the same door."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.requests import Request

COOKIE = "kripto_session"
CSRF_HEADER = "x-csrf-token"
MAX_SESSIONS = 1000


class Refused(Exception):
    """A request that must change nothing; `status` and the one-line reason go back to it."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Session:
    id: str
    #: Who this is, for the notes that say who paused or traded: the address it logged in from.
    name: str
    authenticated: bool
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created: datetime = field(default_factory=lambda: datetime.now(tz=UTC))


class Sessions:
    def __init__(self, token: str | None) -> None:
        self._token = token
        self._sessions: dict[str, Session] = {}

    @property
    def token_configured(self) -> bool:
        return bool(self._token)

    def check_token(self, given: str | None) -> None:
        if not self._token:
            raise Refused(403, "KRIPTO_DASHBOARD_TOKEN is not set: changes from the web are off")
        if not given:
            raise Refused(401, "no token: open the login URL that `kripto dev` printed")
        if not hmac.compare_digest(given.encode(), self._token.encode()):
            raise Refused(403, "wrong token")

    def new(self, request: Request, authenticated: bool) -> Session:
        if len(self._sessions) >= MAX_SESSIONS:  # oldest first out; no unbounded growth
            oldest = min(self._sessions.values(), key=lambda s: s.created)
            del self._sessions[oldest.id]
        sid = secrets.token_urlsafe(32)
        who = request.client.host if request.client else "unknown"
        session = Session(sid, f"{who} (session {sid[:6]})", authenticated)
        self._sessions[sid] = session
        return session

    def of(self, request: Request) -> Session | None:
        sid = request.cookies.get(COOKIE)
        return self._sessions.get(sid) if sid else None


def check_origin(request: Request, public_url: str | None) -> None:
    """The request must come from a page of this dashboard: its Origin (or, without one, its
    Referer) must be the dashboard's own origin or KRIPTO_PUBLIC_URL's."""
    allowed = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
    if public_url:
        parts = urlsplit(public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    origin = request.headers.get("origin")
    if origin is None and (referer := request.headers.get("referer")):
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin is None:
        raise Refused(403, "refused: the request has no Origin header")
    if origin not in allowed:
        raise Refused(403, f"refused: a request from {origin} is not from this dashboard")


def check_csrf(session: Session, given: str | None) -> None:
    if not given:
        raise Refused(403, "refused: the form has no CSRF token (reload the page)")
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise Refused(403, "refused: the form's CSRF token is wrong (reload the page)")
