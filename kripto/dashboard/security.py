"""Who may see and change things from the web: a session that signed in (by POST) with
KRIPTO_DASHBOARD_TOKEN, holding a per-session CSRF token, posting from one of the dashboard's
configured origins. See docs/security.md for the whole boundary.

- Hosts: only loopback names and KRIPTO_PUBLIC_URL's host are answered (Starlette's
  TrustedHostMiddleware), so a DNS-rebound page gets a 400 and reads nothing.
- Bodies: every request's body is refused past MAX_BODY bytes, before it is read whole
  (BodyLimit), so one POST cannot grow the process.
- Sessions live in the dashboard process (a restart signs everyone out, which is the safe way
  round), expire after KRIPTO_DASHBOARD_SESSION_IDLE without a request, and end at /logout.
  The cookie is HttpOnly and SameSite=Strict, and Secure when KRIPTO_PUBLIC_URL is https.
- Sign-in: a wrong token locks the address out for a while that doubles with each failure
  (LoginBackoff), and each refusal is logged.
- Origins: the allow-list is the configured addresses (KRIPTO_PUBLIC_URL, the dashboard's own
  address and its loopback names), never the request's own Host header."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

COOKIE = "kripto_session"
CSRF_HEADER = "x-csrf-token"
MAX_SESSIONS = 1000
#: The largest body any endpoint takes: a trade's JSON or a stop link's form is a few hundred
#: bytes.
MAX_BODY = 8 * 1024
#: The dashboard's token must be at least this long (settings refuse a shorter one).
MIN_TOKEN_LENGTH = 32
#: Sign-in backoff: after the n-th wrong token in a row from an address, that address is
#: refused for BACKOFF_FIRST * 2**(n-1) seconds, at most BACKOFF_MAX.
BACKOFF_FIRST = 2.0
BACKOFF_MAX = 300.0
#: Addresses remembered by the backoff (the oldest forgotten first).
BACKOFF_ADDRESSES = 10_000
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class Refused(Exception):
    """A request that must change nothing; `status` and the one-line reason go back to it."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


def address_of(request: Request) -> str:
    """The client's address as uvicorn saw it (X-Forwarded-For only when
    KRIPTO_DASHBOARD_FORWARDED_ALLOW_IPS names the proxy)."""
    return request.client.host if request.client else "unknown"


@dataclass
class Session:
    id: str
    #: Who this is, for the notes that say who paused or traded: the address it logged in from.
    name: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    last_seen: float = field(default_factory=time.monotonic)


class LoginBackoff:
    """Per-address backoff for wrong tokens: the n-th failure in a row locks the address out
    for BACKOFF_FIRST * 2**(n-1) seconds (at most BACKOFF_MAX); a right token clears it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}

    def check(self, address: str) -> None:
        count, until = self._failures.get(address, (0, 0.0))
        wait = until - self._clock()
        if wait > 0:
            log.warning(
                "dashboard: refused a sign-in from %s: locked out for %.0fs more after %d wrong"
                " token(s)",
                address,
                wait,
                count,
            )
            raise Refused(
                429,
                f"too many wrong tokens from {address}: try again in {wait:.0f}s",
                {"Retry-After": str(int(wait) + 1)},
            )

    def failed(self, address: str) -> float:
        count = self._failures.pop(address, (0, 0.0))[0] + 1
        lock = min(BACKOFF_FIRST * 2 ** min(count - 1, 20), BACKOFF_MAX)
        if len(self._failures) >= BACKOFF_ADDRESSES:
            del self._failures[next(iter(self._failures))]
        self._failures[address] = (count, self._clock() + lock)
        log.warning(
            "dashboard: refused a sign-in from %s: wrong token (%d in a row; locked out for %.0fs)",
            address,
            count,
            lock,
        )
        return lock

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


class Sessions:
    def __init__(
        self,
        token: str | None,
        idle_seconds: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token = token
        self._idle = idle_seconds
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self.backoff = LoginBackoff(clock)

    @property
    def token_configured(self) -> bool:
        return bool(self._token)

    def sign_in(self, request: Request, given: str | None) -> Session:
        """A new session for the right token; Refused (and a log line) for anything else."""
        if not self._token:
            raise Refused(403, "KRIPTO_DASHBOARD_TOKEN is not set: the dashboard is closed")
        address = address_of(request)
        self.backoff.check(address)
        if not given:
            raise Refused(401, "no token: paste the dashboard's token (or open its sign-in link)")
        if not hmac.compare_digest(given.encode(), self._token.encode()):
            self.backoff.failed(address)
            raise Refused(403, "wrong token")
        self.backoff.succeeded(address)
        return self.new(request)

    def new(self, request: Request) -> Session:
        if len(self._sessions) >= MAX_SESSIONS:  # oldest first out; no unbounded growth
            oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
            del self._sessions[oldest.id]
        sid = secrets.token_urlsafe(32)
        session = Session(sid, f"{address_of(request)} (session {sid[:6]})")
        session.last_seen = self._clock()
        self._sessions[sid] = session
        return session

    def of(self, request: Request) -> Session | None:
        """The request's live session (its idle clock restarted), or None."""
        sid = request.cookies.get(COOKIE)
        session = self._sessions.get(sid) if sid else None
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._idle:
            del self._sessions[session.id]
            return None
        session.last_seen = now
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.id, None)


def allowed_hosts(dashboard_host: str, public_url: str | None) -> list[str]:
    """The Host names the dashboard answers: loopback, the address it listens on (unless that
    is every address), and KRIPTO_PUBLIC_URL's host."""
    hosts = list(LOOPBACK_HOSTS)
    if dashboard_host not in ("", "0.0.0.0", "::"):
        hosts.append(dashboard_host)
    if public_url:
        name = urlsplit(public_url).hostname
        if name:
            hosts.append(name)
    return hosts


def allowed_origins(dashboard_url: str, dashboard_port: int, public_url: str | None) -> set[str]:
    """The origins a change may come from: configuration only, never the request's Host."""
    origins = {dashboard_url.rstrip("/")}
    origins |= {f"http://{h}:{dashboard_port}" for h in ("127.0.0.1", "localhost", "[::1]")}
    if public_url:
        parts = urlsplit(public_url)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins


def check_origin(request: Request, allowed: Iterable[str]) -> None:
    """The request must come from a page of this dashboard: its Origin (or, without one, its
    Referer) must be one of the configured origins."""
    origin = request.headers.get("origin")
    if origin is None and (referer := request.headers.get("referer")):
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin is None:
        raise Refused(403, "refused: the request has no Origin header")
    if origin not in set(allowed):
        raise Refused(403, f"refused: a request from {origin} is not from this dashboard")


def check_csrf(expected: str, given: str | None) -> None:
    if not given:
        raise Refused(403, "refused: the form has no CSRF token (reload the page)")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused(403, "refused: the form's CSRF token is wrong (reload the page)")


def form_token(key: bytes, value: str) -> str:
    """A CSRF token bound to `value` (a stop link) under this process's key: no session needed."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse any request body over `limit` bytes: at once when Content-Length says so, else
    as soon as the streamed body passes it, so nothing reads a large body into memory."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = f"refused: a request body may be at most {self.limit} bytes"
        response: Response
        if str(scope.get("path", "")).startswith("/api/"):
            response = JSONResponse({"error": reason}, status_code=413)
        else:
            response = PlainTextResponse(reason, status_code=413)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def cookie_options(public_url: str | None) -> dict[str, Any]:
    """HttpOnly, SameSite=Strict, and Secure behind https."""
    secure = bool(public_url and public_url.startswith("https://"))
    return {"httponly": True, "samesite": "strict", "secure": secure, "path": "/"}
