"""A stand-in for Coinbase's public price API on loopback: a real HTTP server that answers
`GET /v2/prices/<PRODUCT>/spot` like Coinbase, or with scripted faults (status codes, garbage,
slow replies)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Reply:
    status: int = 200
    body: bytes | None = None  # None: a proper spot price
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


class SpotServer:
    def __init__(self) -> None:
        self.price = "8012.92"
        self.script: deque[Reply] = deque()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                reply = server.script.popleft() if server.script else Reply()
                time.sleep(reply.delay)
                parts = self.path.strip("/").split("/")
                if reply.body is None and len(parts) == 4 and parts[:2] == ["v2", "prices"]:
                    base, _, quote = parts[2].partition("-")
                    data = {"data": {"base": base, "currency": quote, "amount": server.price}}
                    body = json.dumps(data).encode()
                else:
                    body = reply.body or b'{"errors":[{"id":"not_found"}]}'
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: that is the point of a slow reply

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def fail_next(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def spot_server() -> Iterator[SpotServer]:
    server = SpotServer()
    try:
        yield server
    finally:
        server.close()
