"""A stand-in for Coinbase's public price API on loopback: a real HTTP server that answers
`GET /v2/prices/<PRODUCT>/spot`, the public list of products with their prices
(`GET /api/v3/brokerage/market/products?product_ids=…`, every product at the spot price), and
the public one-minute candles
(`GET /api/v3/brokerage/market/products/<PRODUCT>/candles?start=&end=&granularity=ONE_MINUTE`)
like Coinbase, or with scripted faults (status codes, garbage, slow replies, dropped
connections).

Candles are deterministic: `candle_close(second)` for each minute, except the minutes
`is_gap(second)` says had no trades, which have no row (as on Coinbase)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Reply:
    status: int = 200
    body: bytes | None = None  # None: a proper spot price
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    #: Close the connection without a reply (a dropped connection).
    drop: bool = False
    #: Only for candle requests (the spot path is left alone).
    candles_only: bool = False


#: Coinbase's limit: "number of candles requested should be less than or equal to 350".
CANDLE_LIMIT = 350


def is_gap(second: int) -> bool:
    """About one minute in 23 had no trades."""
    return (second // 60 * 7919) % 23 == 0


def candle_close(second: int) -> Decimal:
    minute = second // 60
    return Decimal(30000) + Decimal(minute % 9973) / 100


def candle_rows(start: int, end: int) -> list[dict[str, str]]:
    """Coinbase's rows for [start, end] (end inclusive), newest first."""
    first = -(-start // 60) * 60
    rows = []
    for second in range(end - end % 60, first - 1, -60):
        if is_gap(second):
            continue
        close = str(candle_close(second))
        rows.append(
            {
                "start": str(second),
                "low": close,
                "high": close,
                "open": close,
                "close": close,
                "volume": "1.5",
            }
        )
    return rows


class SpotServer:
    def __init__(self) -> None:
        self.price = "8012.92"
        self.script: deque[Reply] = deque()
        self.requests: list[str] = []
        #: The most candles one request may ask for (larger in tests that page a year quickly).
        self.candle_limit = CANDLE_LIMIT
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                is_candles = parts[:5] == ["api", "v3", "brokerage", "market", "products"]
                scripted = server.script and (is_candles or not server.script[0].candles_only)
                reply = server.script.popleft() if scripted else Reply()
                time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                status = reply.status
                if reply.body is None and len(parts) == 4 and parts[:2] == ["v2", "prices"]:
                    base, _, quote = parts[2].partition("-")
                    data = {"data": {"base": base, "currency": quote, "amount": server.price}}
                    body = json.dumps(data).encode()
                elif reply.body is None and reply.status == 200 and is_candles and len(parts) == 7:
                    status, body = server.candles(parse_qs(url.query))
                elif reply.body is None and reply.status == 200 and is_candles and len(parts) == 5:
                    # Many products' prices at once, as the exchange tick reads them.
                    wanted = parse_qs(url.query).get("product_ids", [])
                    rows = [{"product_id": p, "price": server.price} for p in wanted]
                    body = json.dumps({"products": rows, "num_products": len(rows)}).encode()
                else:
                    body = reply.body or b'{"errors":[{"id":"not_found"}]}'
                try:
                    self.send_response(status)
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

    def candles(self, query: dict[str, list[str]]) -> tuple[int, bytes]:
        try:
            start, end = int(query["start"][0]), int(query["end"][0])
            granularity = query["granularity"][0]
        except (KeyError, ValueError):
            return 400, b'{"error":"INVALID_ARGUMENT","message":"start, end and granularity"}'
        if granularity != "ONE_MINUTE" or end < start:
            return 400, b'{"error":"INVALID_ARGUMENT","message":"bad granularity or span"}'
        if (end - start) // 60 + 1 > self.candle_limit:
            message = f"number of candles requested should be less than {self.candle_limit}"
            return 400, json.dumps({"error": "INVALID_ARGUMENT", "message": message}).encode()
        return 200, json.dumps({"candles": candle_rows(start, end)}).encode()

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
