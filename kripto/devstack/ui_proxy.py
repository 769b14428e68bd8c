"""The Temporal Web UI behind a small Host-checking proxy, for `kripto dev`.

The dev server's UI answers any `Host` and has its write actions on, so a web page that
rebinds its own name to 127.0.0.1 could drive it (unpause the schedule, start a trade). The
UI itself therefore listens on a loopback port of its own, chosen at random on each start, and
the published UI port is this proxy: it forwards a request only when its Host is a loopback
name, and a request that changes something (anything but GET, HEAD and OPTIONS) only when its
Origin, if it has one, is the UI's own. Everything else gets a 400 or a 403 and reaches
nothing. See docs/security.md."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Generator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

#: The Host names the UI answers (Starlette compares them without the port).
UI_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
#: Hop-by-hop headers, which a proxy does not pass on.
HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


def ui_proxy_app(upstream: str, port: int) -> Starlette:
    """`upstream`: the UI's own address (http://127.0.0.1:<internal port>); `port`: ours."""
    origins = {f"http://{h}:{port}" for h in UI_HOSTS}
    client = httpx.AsyncClient(base_url=upstream, timeout=httpx.Timeout(60.0, connect=5.0))

    async def forward(request: Request) -> Response:
        origin = request.headers.get("origin")
        if request.method not in SAFE_METHODS and origin is not None and origin not in origins:
            return PlainTextResponse(
                f"refused: a request from {origin} is not from the Temporal UI", status_code=403
            )
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP]
        upstream_request = client.build_request(
            request.method,
            request.url.path,
            params=request.url.query,
            headers=headers,
            content=request.stream(),
        )
        try:
            answer = await client.send(upstream_request, stream=True)
        except httpx.HTTPError as exc:
            return PlainTextResponse(
                f"the Temporal UI is not answering ({type(exc).__name__})", status_code=502
            )
        return StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k.lower() not in HOP},
            background=BackgroundTask(answer.aclose),
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    methods = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/", forward, methods=methods),
            Route("/{path:path}", forward, methods=methods),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=UI_HOSTS)],
        lifespan=lifespan,
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # kripto dev owns the signals


async def serve_ui_proxy(
    upstream: str,
    port: int,
    stop: asyncio.Event,
    started: Callable[[], None] | None = None,
) -> None:
    config = uvicorn.Config(
        ui_proxy_app(upstream, port),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"the Temporal UI's proxy could not listen on port {port}")
        await asyncio.sleep(0.05)
    if started is not None:
        started()
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    server.should_exit = True
    await task
