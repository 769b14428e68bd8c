"""The dashboard's sessions on a clock of the test's own: the idle timeout, and the sign-in
backoff doubling per address (kripto.dashboard.security)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from kripto.dashboard.security import COOKIE, Refused, Sessions

TOKEN = "t" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(cookie: str = "", client: str = "127.0.0.1") -> Request:
    headers = [(b"cookie", f"{COOKIE}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "headers": headers, "client": (client, 1)})


def test_a_session_ends_after_the_idle_timeout_and_each_request_restarts_it() -> None:
    clock = Clock()
    sessions = Sessions(TOKEN, idle_seconds=1800, clock=clock)
    session = sessions.sign_in(request(), TOKEN)
    clock.now += 1700
    assert sessions.of(request(session.id)) is session  # in use: the idle clock restarts
    clock.now += 1700
    assert sessions.of(request(session.id)) is session
    clock.now += 1801
    assert sessions.of(request(session.id)) is None
    clock.now = 0  # gone for good, not just hidden
    assert sessions.of(request(session.id)) is None


def test_the_backoff_doubles_per_address_and_a_right_token_clears_it() -> None:
    clock = Clock()
    sessions = Sessions(TOKEN, clock=clock)
    waits = []
    for _ in range(5):
        with pytest.raises(Refused) as wrong:
            sessions.sign_in(request(), "w" * 40)
        assert wrong.value.status == 403
        with pytest.raises(Refused) as locked:
            sessions.sign_in(request(), TOKEN)
        assert locked.value.status == 429
        waits.append(int(locked.value.headers["Retry-After"]))
        clock.now += waits[-1]
    assert waits == [3, 5, 9, 17, 33]  # 2, 4, 8, 16, 32 seconds (Retry-After rounds up)
    assert sessions.sign_in(request(client="10.0.0.9"), TOKEN)  # another address is not held
    assert sessions.sign_in(request(), TOKEN)
    with pytest.raises(Refused) as again:
        sessions.sign_in(request(), "w" * 40)
    assert again.value.status == 403  # the count started again from one
    clock.now += 2
    assert sessions.sign_in(request(), TOKEN)
