"""Every way a request from the web is refused, against the real app, Postgres and the Temporal
dev server: a foreign Host, no session, no token, a wrong token (and the backoff after it), a
forged form (no or a wrong CSRF token, another origin), a body over the limit, a tampered,
expired or replayed stop link. Each refusal leaves the schedule as it was (docs/security.md)."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from kripto.dashboard.app import create_app
from kripto.dashboard.security import MAX_BODY
from kripto.dashboard.server import serve_dashboard
from kripto.db import Database
from kripto.ids import schedule_id
from kripto.runtime.schedules import ensure_schedules
from kripto.settings import Settings
from kripto.stoplinks import StopLinkSigner

#: The exchange's schedule is one per task queue: this module's tests share one queue, so
#: their helpers can name the schedule.
TASK_QUEUE = "kripto-dashboard-security-test"


@pytest.fixture
def task_queue() -> str:
    return TASK_QUEUE


pytestmark = pytest.mark.e2e

TOKEN = "dashboard-token-for-tests-0123456789"
SECRET = "stop-link-secret-for-tests-0123456789"
BASE = "http://dash.test"


@pytest.fixture
async def board(dev_server_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Settings]:
    settings = settings.model_copy(
        update={
            "dashboard_token": SecretStr(TOKEN),
            "stop_link_secret": SecretStr(SECRET),
            "public_url": BASE,
            "schedule_every": timedelta(hours=1),  # no tick runs during the test
        }
    )
    client = dev_server_env.client
    await ensure_schedules(client, settings)
    try:
        yield settings
    finally:
        await client.get_schedule_handle(schedule_id("BTC-GBP", TASK_QUEUE)).delete()


def http_to(app: object, base: str = BASE) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)  # type: ignore[arg-type]


@pytest.fixture
async def web(
    board: Settings, dev_server_env: WorkflowEnvironment, db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    async with http_to(create_app(board, dev_server_env.client, db)) as http:
        yield http


async def paused(dev_server_env: WorkflowEnvironment) -> tuple[bool, str]:
    described = await dev_server_env.client.get_schedule_handle(
        schedule_id("BTC-GBP", TASK_QUEUE)
    ).describe()
    return described.schedule.state.paused, described.schedule.state.note or ""


async def login(http: httpx.AsyncClient) -> str:
    """Sign in; returns the page's CSRF token."""
    response = await http.post("/login", data={"token": TOKEN})
    assert response.status_code == 303
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=strict" in response.headers["set-cookie"].lower()
    page = await http.get("/")
    match = re.search(r'name="kripto-csrf" content="([^"]+)"', page.text)
    assert match and match.group(1)
    return match.group(1)


async def test_pause_is_refused_without_a_session_a_token_or_csrf(
    web: httpx.AsyncClient, dev_server_env: WorkflowEnvironment
) -> None:
    origin = {"Origin": BASE}
    no_session = await web.post("/api/pause", headers=origin)
    assert (no_session.status_code, no_session.json()) == (
        401,
        {"error": "not signed in: open the dashboard's sign-in page"},
    )
    no_token = await web.post("/login", data={})
    assert no_token.status_code == 401
    assert "no token: paste the dashboard&#39;s token" in no_token.text
    # A token in a query string signs nobody in: that is the sign-in page, not a sign-in.
    in_url = await web.get("/login", params={"token": TOKEN})
    assert in_url.status_code == 200
    assert "set-cookie" not in in_url.headers
    assert "kripto_session" not in web.cookies

    csrf = await login(web)
    no_csrf = await web.post("/api/pause", headers=origin)
    assert (no_csrf.status_code, no_csrf.json()["error"]) == (
        403,
        "refused: the form has no CSRF token (reload the page)",
    )
    bad_csrf = await web.post("/api/pause", headers={**origin, "X-CSRF-Token": csrf + "x"})
    assert (bad_csrf.status_code, bad_csrf.json()["error"]) == (
        403,
        "refused: the form's CSRF token is wrong (reload the page)",
    )
    elsewhere = await web.post(
        "/api/pause", headers={"Origin": "http://evil.test", "X-CSRF-Token": csrf}
    )
    assert (elsewhere.status_code, elsewhere.json()["error"]) == (
        403,
        "refused: a request from http://evil.test is not from this dashboard",
    )
    no_origin = await web.post("/api/pause", headers={"X-CSRF-Token": csrf})
    assert no_origin.json()["error"] == "refused: the request has no Origin header"
    trade = await web.post(
        "/api/trade",
        headers={"Origin": "http://evil.test", "X-CSRF-Token": csrf},
        json={"idempotencyKey": "k-forged", "tradeType": "buy", "amount": "10.00"},
    )
    assert trade.status_code == 403
    assert await paused(dev_server_env) == (False, "")

    ok = await web.post("/api/pause", headers={**origin, "X-CSRF-Token": csrf})
    assert ok.status_code == 200
    state, note = await paused(dev_server_env)
    assert state is True
    assert re.fullmatch(
        r"paused from the dashboard by 127\.0\.0\.1 \(session .{6}\) at"
        r" \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
        note,
    ), note
    resumed = await web.post("/api/resume", headers={**origin, "X-CSRF-Token": csrf})
    assert resumed.status_code == 200
    assert (await paused(dev_server_env))[0] is False


async def test_a_stop_link_is_refused_when_forged_tampered_expired_or_replayed(
    web: httpx.AsyncClient, dev_server_env: WorkflowEnvironment, db: Database
) -> None:
    signer = StopLinkSigner(SECRET, BASE)
    url = signer.url("trade-abc", datetime.now(tz=UTC))
    path = url.removeprefix(BASE)
    page = await web.get(path)
    assert page.status_code == 200
    assert "Stop trading?" in page.text
    assert "set-cookie" not in page.headers  # a stop link's page makes no session
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match
    csrf = match.group(1)

    forged = await web.post(path, headers={"Origin": BASE}, data={"csrf": "nope"})
    assert forged.status_code == 403
    assert "the form&#39;s CSRF token is wrong" in forged.text
    elsewhere = await web.post(path, headers={"Origin": "http://evil.test"}, data={"csrf": csrf})
    assert elsewhere.status_code == 403
    other_secret = StopLinkSigner("another-secret-0123456789", BASE)
    tampered = await web.get(other_secret.url("trade-abc", datetime.now(tz=UTC)).removeprefix(BASE))
    assert tampered.status_code == 403
    assert "signature is wrong; it was not made by Kripto" in tampered.text
    expired = await web.get(
        signer.url("trade-old", datetime.now(tz=UTC) - timedelta(days=8)).removeprefix(BASE)
    )
    assert expired.status_code == 403
    assert "This stop link expired at" in expired.text
    assert await paused(dev_server_env) == (False, "")
    assert await db.pool.fetchval("SELECT count(*) FROM used_stop_links") == 0

    confirmed = await web.post(path, headers={"Origin": BASE}, data={"csrf": csrf})
    assert confirmed.status_code == 200
    assert "Trading paused" in confirmed.text
    state, note = await paused(dev_server_env)
    assert state is True
    link_id = signer.link_for("trade-abc", datetime.now(tz=UTC)).link_id
    assert note.startswith(f"paused by a receipt's stop link (link {link_id}) from 127.0.0.1 at")
    assert await db.pool.fetchval("SELECT count(*) FROM used_stop_links") == 1

    replay_page = await web.get(path)
    assert replay_page.status_code == 410
    assert "This stop link has already been used." in replay_page.text
    replay = await web.post(path, headers={"Origin": BASE}, data={"csrf": csrf})
    assert replay.status_code == 410
    assert "This stop link has already been used." in replay.text
    assert await db.pool.fetchval("SELECT count(*) FROM used_stop_links") == 1


async def test_a_foreign_host_and_a_stranger_see_nothing(web: httpx.AsyncClient) -> None:
    """Door 2: the Host check (DNS rebinding) and a session for every page with money on it."""
    for path in ("/api/state", "/api/tax", "/tax", "/", "/api/quote?side=buy&amount=10"):
        rebound = await web.get(path, headers={"Host": "attacker.example:8237"})
        assert (rebound.status_code, rebound.text) == (400, "Invalid host header"), path
        stranger = await web.get(path)
        assert stranger.status_code == 401, path
        assert "balances" not in stranger.text and "trades" not in stranger.text
    assert (await web.get("/api/state")).json() == {
        "error": "not signed in: open the dashboard's sign-in page"
    }
    assert "Sign in" in (await web.get("/")).text
    health = await web.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"ok": True})
    await login(web)
    state = await web.get("/api/state")
    assert state.status_code == 200
    assert set(state.json()) == {"chart", "money", "now", "trades", "decisions"}
    # Loopback names and KRIPTO_PUBLIC_URL's host are the dashboard's own.
    assert (await web.get("/healthz", headers={"Host": "127.0.0.1:8237"})).status_code == 200
    assert (await web.get("/healthz", headers={"Host": "localhost"})).status_code == 200


async def test_the_origin_is_checked_against_the_configured_origins_not_the_host(
    web: httpx.AsyncClient, dev_server_env: WorkflowEnvironment
) -> None:
    csrf = await login(web)
    # Host and Origin agree, as a rebound page's would; neither is a configured origin.
    same_as_host = await web.post(
        "/api/pause",
        headers={"Host": "127.0.0.1", "Origin": "http://127.0.0.1", "X-CSRF-Token": csrf},
    )
    assert (same_as_host.status_code, same_as_host.json()["error"]) == (
        403,
        "refused: a request from http://127.0.0.1 is not from this dashboard",
    )
    assert await paused(dev_server_env) == (False, "")


async def test_wrong_tokens_back_off_per_address_and_each_refusal_is_logged(
    web: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kripto.dashboard.security")
    wrong = await web.post("/login", data={"token": "x" * 40})
    assert wrong.status_code == 403
    assert "wrong token" in wrong.text
    # At once after a wrong token, even the right one waits: 2 s, doubling with each failure.
    locked = await web.post("/login", data={"token": TOKEN})
    assert locked.status_code == 429
    assert "too many wrong tokens from 127.0.0.1: try again in" in locked.text
    assert locked.headers["retry-after"] in ("2", "3")
    assert "kripto_session" not in web.cookies
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == (
        "dashboard: refused a sign-in from 127.0.0.1: wrong token (1 in a row; locked out for 2s)"
    )
    assert lines[1].startswith(
        "dashboard: refused a sign-in from 127.0.0.1: locked out for 2s more after 1 wrong token"
    ) or lines[1].startswith(
        "dashboard: refused a sign-in from 127.0.0.1: locked out for 1s more after 1 wrong token"
    )
    assert len(lines) == 2
    # Another address is not held back by this one's failures.
    other = httpx.ASGITransport(app=web._transport.app, client=("10.1.2.3", 4000))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=other, base_url=BASE) as elsewhere:
        assert (await elsewhere.post("/login", data={"token": TOKEN})).status_code == 303


async def test_a_body_over_the_limit_is_refused_before_it_is_read(
    web: httpx.AsyncClient,
) -> None:
    """Door 3. A streamed (chunked) body is cut off as soon as it passes MAX_BODY; a stop link
    is checked before its body is read, so a bad link is refused whatever the body."""
    csrf = await login(web)

    async def chunks(total: int) -> AsyncIterator[bytes]:
        for _ in range(total // 4096):
            yield b"x" * 4096

    big = await web.post(
        "/api/trade",
        headers={"Origin": BASE, "X-CSRF-Token": csrf},
        content=chunks(MAX_BODY * 4),
    )
    assert (big.status_code, big.json()) == (
        413,
        {"error": f"refused: a request body may be at most {MAX_BODY} bytes"},
    )
    declared = await web.post(
        "/stop/x.1.y", headers={"Content-Length": str(300 * 2**20)}, content=b"x" * 10
    )
    assert declared.status_code == 413
    bad_link = await web.post("/stop/x.1.y", headers={"Origin": BASE}, content=chunks(MAX_BODY * 4))
    assert bad_link.status_code == 403
    assert "signature is wrong; it was not made by Kripto" in bad_link.text


async def test_sign_out_ends_a_session(
    board: Settings, dev_server_env: WorkflowEnvironment, db: Database
) -> None:
    async with http_to(create_app(board, dev_server_env.client, db)) as web:
        csrf = await login(web)
        assert (await web.get("/api/state")).status_code == 200
        out = await web.post("/logout", headers={"Origin": BASE, "X-CSRF-Token": csrf})
        assert (out.status_code, out.json()) == (200, {"signedOut": True})
        assert (await web.get("/api/state")).status_code == 401
    # The idle timeout: tests/unit/test_dashboard_sessions.py (on a clock of its own).


async def test_the_cookie_is_secure_behind_https(
    board: Settings, dev_server_env: WorkflowEnvironment, db: Database
) -> None:
    https = board.model_copy(update={"public_url": "https://dash.test"})
    app = create_app(https, dev_server_env.client, db)
    async with http_to(app, "https://dash.test") as web:
        signed_in = await web.post("/login", data={"token": TOKEN})
        cookie = signed_in.headers["set-cookie"].lower()
        assert "; secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    async with http_to(create_app(board, dev_server_env.client, db)) as web:
        assert (
            "secure"
            not in (await web.post("/login", data={"token": TOKEN})).headers["set-cookie"].lower()
        )


def test_a_short_dashboard_token_is_refused() -> None:
    from kripto.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as refused:
        load_settings(dashboard_token=SecretStr("abc"))
    assert str(refused.value).startswith(
        "KRIPTO_DASHBOARD_TOKEN: must be at least 32 characters, not 3"
    )


async def test_a_stop_link_is_not_spent_while_temporal_is_down(
    board: Settings, dev_server_env: WorkflowEnvironment, db: Database
) -> None:
    """Door 7: pause first, then mark the link used."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    down = await Client.connect(f"127.0.0.1:{dead_port}", lazy=True)
    url = StopLinkSigner(SECRET, BASE).url("trade-down", datetime.now(tz=UTC))
    path = url.removeprefix(BASE)
    async with http_to(create_app(board, down, db)) as web:
        page = await web.get(path)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        async with asyncio.timeout(60):
            failed = await web.post(path, headers={"Origin": BASE}, data={"csrf": csrf.group(1)})
        assert failed.status_code == 503
        assert "The link is not used up" in failed.text
    assert await db.pool.fetchval("SELECT count(*) FROM used_stop_links") == 0
    assert await paused(dev_server_env) == (False, "")
    async with http_to(create_app(board, dev_server_env.client, db)) as web:
        page = await web.get(path)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        later = await web.post(path, headers={"Origin": BASE}, data={"csrf": csrf.group(1)})
        assert later.status_code == 200
    assert (await paused(dev_server_env))[0] is True
    assert await db.pool.fetchval("SELECT count(*) FROM used_stop_links") == 1


def raw_request(port: int, head: str, body: bytes = b"") -> str:
    """One HTTP request on a socket; the status line and headers of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer.decode(errors="replace")


async def test_under_uvicorn_a_huge_post_is_cut_off_and_forwarded_headers_are_ignored(
    board: Settings, dev_server_env: WorkflowEnvironment
) -> None:
    """The dashboard as `kripto dev` serves it: a 300 MB POST gets a 413 after its headers
    (nothing waits for, or keeps, the body), and X-Forwarded-For from loopback is not believed
    unless KRIPTO_DASHBOARD_FORWARDED_ALLOW_IPS names the proxy."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = board.model_copy(update={"dashboard_port": port, "public_url": None})
    stop, up = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve_dashboard(settings, dev_server_env.client, stop, up.set))
    try:
        async with asyncio.timeout(15):
            await up.wait()
        head = (
            f"POST /stop/x.1.y HTTP/1.1\nHost: 127.0.0.1:{port}\n"
            f"Content-Length: {300 * 2**20}\nContent-Type: application/x-www-form-urlencoded\n"
        )
        answer = await asyncio.to_thread(raw_request, port, head, b"x" * 65536)
        assert answer.startswith("HTTP/1.1 413 "), answer
        origin = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=origin) as web:
            csrf = await login(web)
            ok = await web.post(
                "/api/pause",
                headers={"Origin": origin, "X-CSRF-Token": csrf, "X-Forwarded-For": "6.6.6.6"},
            )
            assert ok.status_code == 200
        state, note = await paused(dev_server_env)
        assert state is True
        assert note.startswith("paused from the dashboard by 127.0.0.1 (session"), note
    finally:
        stop.set()
        await task
