"""`/healthz`: a few lines of HTTP/1.1 over asyncio, beside the SDK's Prometheus endpoint.

The Temporal SDK serves /metrics from its own (Rust) HTTP server, which cannot serve another
path, so health has its own port (KRIPTO_HEALTH_PORT). It answers GET /healthz with a JSON body:
200 when healthy, 503 when not. Nothing else is served; no framework is needed for that."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


def _response(status: int, reason: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


async def _handle(check: Check, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await asyncio.wait_for(reader.readline(), timeout=5)
        while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
            pass  # headers: nothing in them matters here
        parts = request.decode("latin-1").split()
        if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
            writer.write(_response(405, "Method Not Allowed", b'{"error": "GET /healthz"}'))
        elif parts[1].split("?")[0] != "/healthz":
            writer.write(_response(404, "Not Found", b'{"error": "GET /healthz"}'))
        else:
            healthy, body = await check()
            payload = json.dumps({"healthy": healthy, **body}, default=str).encode()
            status, reason = (200, "OK") if healthy else (503, "Service Unavailable")
            writer.write(_response(status, reason, b"" if parts[0] == "HEAD" else payload))
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def health_server(host: str, port: int, check: Check) -> AsyncIterator[None]:
    """Serve /healthz on host:port while the block runs; port 0 serves nothing."""
    if port == 0:
        yield
        return
    try:
        server = await asyncio.start_server(lambda r, w: _handle(check, r, w), host, port)
    except OSError as exc:
        from kripto.settings import SettingsError

        raise SettingsError(
            f"KRIPTO_HEALTH_PORT: cannot serve /healthz on {host}:{port} ({exc.strerror});"
            " choose another port, or 0 to turn it off"
        ) from None
    log.info("health at http://%s:%s/healthz", host, port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
