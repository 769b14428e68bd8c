"""Run the dashboard under uvicorn inside an existing event loop (`kripto dashboard`, and
beside the worker in `kripto dev`), stopping when the caller's stop event is set."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Generator

import uvicorn
from temporalio.client import Client

from kripto.dashboard.app import create_app
from kripto.db import connect
from kripto.settings import Settings


class _Server(uvicorn.Server):
    """The caller owns the signals (kripto dev stops its worker, Temporal and Postgres on
    them); uvicorn's own handlers would swallow them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def login_url(settings: Settings) -> str | None:
    """The sign-in link: the token rides in the fragment, which no browser sends to a server
    (so it never reaches a proxy's log); the page signs in with it by POST and drops it from
    the address bar and its history entry."""
    token = settings.dashboard.dashboard_token
    return (
        f"{settings.dashboard.dashboard_url}/login#token={token.get_secret_value()}"
        if token
        else None
    )


async def serve_dashboard(
    settings: Settings,
    client: Client,
    stop: asyncio.Event,
    started: Callable[[], None] | None = None,
) -> None:
    db = await connect(settings.general.require_database_url())
    app = create_app(settings, client, db)
    config = uvicorn.Config(
        app,
        host=settings.dashboard.dashboard_host,
        port=settings.dashboard.dashboard_port,
        log_level="warning",
        lifespan="on",
        # X-Forwarded-For/-Proto only from the proxies named in the settings: uvicorn would
        # otherwise believe them from loopback, and the "paused by ..." notes could be forged.
        proxy_headers=settings.dashboard.dashboard_forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.dashboard.dashboard_forwarded_allow_ips or "",
        # Beside BodyLimit: a request's head is small too.
        h11_max_incomplete_event_size=16 * 1024,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # the port is taken, say: raise why
                raise RuntimeError(
                    f"the dashboard could not start on {settings.dashboard.dashboard_url}"
                )
            await asyncio.sleep(0.05)
        if started is not None:
            started()
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        server.should_exit = True
        await task
    finally:
        await db.close()
