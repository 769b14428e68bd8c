"""Every way a change from the web is refused, against the real app, Postgres and the Temporal
dev server: no token, a wrong token, a forged form (no or a wrong CSRF token, another origin),
a tampered, expired or replayed stop link. Each refusal leaves the schedule as it was."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from kripto.dashboard.app import create_app
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
async def web(
    dev_server_env: WorkflowEnvironment, settings: Settings, db: Database
) -> AsyncIterator[httpx.AsyncClient]:
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
    app = create_app(settings, client, db)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield http
    finally:
        await client.get_schedule_handle(schedule_id("BTC-GBP", TASK_QUEUE)).delete()


async def paused(dev_server_env: WorkflowEnvironment) -> tuple[bool, str]:
    described = await dev_server_env.client.get_schedule_handle(
        schedule_id("BTC-GBP", TASK_QUEUE)
    ).describe()
    return described.schedule.state.paused, described.schedule.state.note or ""


async def login(http: httpx.AsyncClient) -> str:
    """Sign in; returns the page's CSRF token."""
    response = await http.get("/login", params={"token": TOKEN})
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
        {"error": "not signed in: open the dashboard's login URL with its token"},
    )
    no_token = await web.get("/login")
    assert no_token.status_code == 401
    assert "no token: open the login URL" in no_token.text
    wrong = await web.get("/login", params={"token": TOKEN + "x"})
    assert wrong.status_code == 403
    assert "wrong token" in wrong.text
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
    assert note.startswith(f"paused by a receipt's stop link (link {link_id}) from 127.0.0.1")
    assert await db.pool.fetchval("SELECT count(*) FROM used_stop_links") == 1

    replay_page = await web.get(path)
    assert replay_page.status_code == 410
    assert "This stop link has already been used." in replay_page.text
    replay = await web.post(path, headers={"Origin": BASE}, data={"csrf": csrf})
    assert replay.status_code == 410
    assert "This stop link has already been used." in replay.text
    assert await db.pool.fetchval("SELECT count(*) FROM used_stop_links") == 1
