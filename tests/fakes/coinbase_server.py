"""A fake Coinbase Advanced Trade API on loopback: a real HTTP server that behaves like the
parts of `https://api.coinbase.com/api/v3/brokerage` that Kripto uses, faults included.

- Every request must carry a valid JWT (ES256 or EdDSA, checked against the test public key):
  `kid` and `sub` name the key, `iss` is "cdp", `uri` is "<METHOD> <Host><path>", and the token
  has not expired. Anything else is a 401.
- `POST /orders` fills market orders at a settable price with `kripto.fills.market_fill`,
  deduplicates `client_order_id` (the existing order comes back), keeps balances, and refuses
  insufficient funds with the real API's 200 + `success: false` body.
- `GET /orders/historical/{id}` shows an order as unsettled (status OPEN, nothing filled yet)
  until it has been looked up `settle_after` times, so a client must poll.
- `GET /market/products?product_ids=A&product_ids=B&limit=N` (public: no JWT), the prices of
  many products at once, as the exchange tick reads them; `price_requests()` counts them.
  With `price_all`, a product with no price set gets a fixed one made from its name.
- `GET /orders/historical/batch` (filters `product_ids`, `start_date` and `end_date`, paged by
  `cursor`, newest first), `GET /orders/historical/fills` (one fill per filled order; filters
  `order_ids`, `product_ids`, `start_sequence_timestamp` and `end_sequence_timestamp`; a
  cursor and no has_next),
  `GET /accounts` (paged by cursor), `GET /products/{id}`, `GET /transaction_summary`.

Maker-first (issue 23; see "Maker-first" in the class): an order book per product
(`set_book`), `GET /best_bid_ask`, post-only `limit_limit_gtd` orders that rest, are refused
with INVALID_LIMIT_PRICE_POST_ONLY when they would cross, fill in full or in part (`set_book`,
`trade_at`, `fill_resting`) with MAKER fills at the maker rate, expire at their end time, and
are cancelled by `POST /orders/batch_cancel`; `sor_limit_ioc` orders that take the far touch up
to its size and their cap (TAKER fills); `GET /time` with a settable `clock_skew`.

Faults are queued and each is used by the next matching API request:
  {"kind": "429", "retry_after": 2}    reply 429 with a Retry-After header
  {"kind": "429", "retry_after": null, "reset_in": 3, "reset_as": "epoch"}
                                       reply 429 with no Retry-After but x-ratelimit-reset: the
                                       Unix time 3 s from now ("epoch"), or "3" ("seconds")
  {"kind": "429", "retry_after": null, "html": true}
                                       reply 429 with no rate-limit header and an HTML page, as
                                       Coinbase's edge gateway does
  {"kind": "500"}                      reply 500
  {"kind": "400"} (also "401", "403", "408", "409")
                                       reply with that status and Coinbase's JSON error
  {"kind": "500", "after": true}       any status kind with "after": handle the request first
                                       (a POST /orders creates the order), then reply with the
                                       error instead of the result
  {"kind": "duplicate"}                POST /orders only: create the order (or find the one under
                                       its client_order_id), then refuse the create with 200 +
                                       `success: false` naming a duplicate client_order_id
  {"kind": "insufficient"}             POST /orders only: refuse with INSUFFICIENT_FUND (200 +
                                       `success: false`), creating nothing, whatever the balance
  {"kind": "slow", "seconds": 1.5}     wait, then handle the request as usual
  {"kind": "hang", "seconds": 30}      handle the request (an order IS created), then reply late
  {"kind": "drop"}                     handle the request (an order IS created), then close the
                                       connection without replying
  {"kind": "404"}                      reply 404 NOT_FOUND (e.g. an order not visible yet)
  {"kind": "no_fill"}                  POST /orders only: create the order (a duplicate
                                       client_order_id still returns the existing one) but fill
                                       nothing and move no balances; it shows as CANCELLED,
                                       filled_size 0, cancel_message "IOC order could not be
                                       filled", as an IOC order that found no liquidity does
  {"kind": "fill_before_cancel"}       POST /orders/batch_cancel only: the order fills in full
                                       (at maker) just before the cancel reaches it
Each may carry "method" and "path" (a prefix of the path after the API prefix, e.g. "/orders")
to hit only matching requests. In "path", "{id}" stands for one path segment other than "batch"
or "fills", so {"kind": "404", "method": "GET", "path": "/orders/historical/{id}"} hits the next
Get Order and not the List Orders look-up before it.

Control endpoints (no auth): `POST /_fault` with a JSON list of faults (or {"faults": [...]}),
`GET /_state` (order count, orders, balances, price), `POST /_config` with any of `price`,
`fee_rate`, `settle_after`, `balances` ({"GBP": "100.00"}).

As a process: `python -m tests.fakes.coinbase_server --port P --public-key-file F` prints
`listening on http://127.0.0.1:P` when it is ready and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from kripto.fills import market_fill
from kripto.models import Side
from kripto.money import SATOSHI, round_down, trim

API = "/api/v3/brokerage"
MARKET_PRODUCTS = "/market/products"
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


#: What Coinbase's edge gateway sends instead of the JSON error (trimmed; the real page is
#: kilobytes of markup and script).
RATE_LIMIT_PAGE = (
    b"<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
    b"<title>Coinbase | Too Many Requests</title>\n<meta name='robots' content='noindex'>\n"
    b"<style>body{font-family:sans-serif}.box{margin:4em auto}</style>\n"
    b"<script>window.__cf_chl_opt={cvId:'2',cType:'managed'};</script>\n</head>\n<body>\n"
    + b"<div class='box'><h1>Slow down</h1><p>You have sent too many requests.</p></div>\n"
    + b"<!-- "
    + b"x" * 4000
    + b" -->\n</body>\n</html>\n"
)


@dataclass
class Fault:
    kind: str  # one of KINDS
    retry_after: int | None = 1  # for 429: the Retry-After header, or None for no header
    seconds: float = 1.0
    method: str | None = None
    path: str | None = None
    reset_in: int | None = None  # for 429: send x-ratelimit-reset, this many seconds ahead
    reset_as: str = "epoch"  # "epoch": as a Unix time; "seconds": as the seconds to wait
    html: bool = False  # for 429: an HTML page instead of the JSON error
    after: bool = False  # for a status kind: handle the request, then reply with the error

    #: Kinds that reply with their HTTP status (and Coinbase's JSON error for it).
    STATUSES: ClassVar[dict[str, str]] = {
        "400": "INVALID_ARGUMENT",
        "401": "UNAUTHENTICATED",
        "403": "PERMISSION_DENIED",
        "404": "NOT_FOUND",
        "408": "DEADLINE_EXCEEDED",
        "409": "ABORTED",
        "429": "RESOURCE_EXHAUSTED",
        "500": "INTERNAL",
    }
    KINDS: ClassVar[tuple[str, ...]] = (
        *STATUSES,
        "slow",
        "drop",
        "hang",
        "no_fill",
        "duplicate",
        "insufficient",
        "fill_before_cancel",
    )

    def __post_init__(self) -> None:
        if self.kind in (
            "no_fill",
            "duplicate",
            "insufficient",
        ):  # they only mean something to Create Order
            self.method, self.path = "POST", "/orders"
        if self.kind == "fill_before_cancel":  # the cancel loses a race with a fill
            self.method, self.path = "POST", "/orders/batch_cancel"

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Fault:
        kind = str(data["kind"])
        if kind not in cls.KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        retry_after = data.get("retry_after", 1)
        reset_in = data.get("reset_in")
        return cls(
            kind=kind,
            retry_after=None if retry_after is None else int(retry_after),
            seconds=float(data.get("seconds", 1.0)),
            method=data.get("method"),
            path=data.get("path"),
            reset_in=None if reset_in is None else int(reset_in),
            reset_as=str(data.get("reset_as", "epoch")),
            html=bool(data.get("html", False)),
            after=bool(data.get("after", False)),
        )

    def rate_limited(self) -> tuple[dict[str, str], bytes, str]:
        """The 429 reply this fault asks for: headers, body and content type."""
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.reset_in is not None:
            reset = int(time.time()) + self.reset_in if self.reset_as == "epoch" else self.reset_in
            headers |= {
                "x-ratelimit-limit": "30",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(reset),
            }
        if self.html:
            return headers, RATE_LIMIT_PAGE, "text/html; charset=utf-8"
        return headers, json.dumps({"message": "Too many requests"}).encode(), "application/json"

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if not self.path:
            return True
        if self.kind in ("no_fill", "duplicate", "insufficient"):
            return path == self.path  # Create Order, not Cancel Orders under /orders/…
        if "{id}" not in self.path:
            return path.startswith(self.path)
        pattern = re.escape(self.path).replace(
            re.escape("{id}"), r"(?!(?:batch|fills)(?:/|$))[^/]+"
        )
        return re.match(pattern, path) is not None


@dataclass
class FakeOrder:
    order_id: str
    client_order_id: str
    product_id: str
    side: Side
    configuration: dict[str, str]
    filled_size: Decimal
    filled_value: Decimal
    total_fees: Decimal
    price: Decimal
    created: datetime
    lookups: int = 0
    unfilled: bool = False  # an IOC order that found no liquidity: CANCELLED, nothing filled
    #: When its fill happened, if not at its creation (an order filled long after it was made).
    filled_at: datetime | None = None

    @property
    def fill_time(self) -> datetime:
        return self.filled_at or self.created

    def settled(self, settle_after: int) -> bool:
        return self.unfilled or self.lookups >= settle_after

    def fill_json(self) -> dict[str, Any]:
        """The order's one fill, as List Fills shows it."""
        at = self.fill_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {
            "entry_id": f"entry-{self.order_id}",
            "trade_id": f"trade-{self.order_id}",
            "order_id": self.order_id,
            "trade_time": at,
            "trade_type": "FILL",
            "price": str(self.price),
            "size": str(self.filled_size),
            "commission": str(self.total_fees),
            "product_id": self.product_id,
            "sequence_timestamp": at,
            "liquidity_indicator": "TAKER",
            "size_in_quote": "quote_size" in self.configuration,
            "user_id": "fake-user",
            "side": self.side.value.upper(),
            "retail_portfolio_id": "",
        }

    def fills_json(self) -> list[dict[str, Any]]:
        """Every fill of the order, as List Fills shows them: a market order has one."""
        return [] if self.unfilled else [self.fill_json()]

    def to_json(self, settle_after: int) -> dict[str, Any]:
        settled = self.settled(settle_after)
        filled = settled and not self.unfilled
        status = "CANCELLED" if self.unfilled else "FILLED" if settled else "OPEN"
        zero = "0"
        value_after = (
            self.filled_value + self.total_fees
            if self.side is Side.BUY
            else self.filled_value - self.total_fees
        )
        return {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "product_id": self.product_id,
            "user_id": "fake-user",
            "side": self.side.value.upper(),
            "order_type": "MARKET",
            "order_configuration": {"market_market_ioc": dict(self.configuration)},
            "status": status,
            "time_in_force": "IMMEDIATE_OR_CANCEL",
            "created_time": self.created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "completion_percentage": "100" if filled else "0",
            "filled_size": str(self.filled_size) if filled else zero,
            "average_filled_price": str(self.price) if filled else zero,
            "filled_value": str(self.filled_value) if filled else zero,
            "total_fees": str(self.total_fees) if filled else zero,
            "total_value_after_fees": str(trim(value_after)) if filled else zero,
            "number_of_fills": "1" if filled else "0",
            "size_in_quote": "quote_size" in self.configuration,
            "size_inclusive_of_fees": "quote_size" in self.configuration,
            "settled": settled,
            "product_type": "SPOT",
            "reject_reason": "",
            "cancel_message": "IOC order could not be filled" if self.unfilled else "",
            "order_placement_source": "RETAIL_ADVANCED",
        }


# -- Maker-first (issue 23): limit orders on an order book ----------------------------------


@dataclass
class Book:
    """A product's best bid and ask, and the size at each (None: any size)."""

    bid: Decimal
    ask: Decimal
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeLimitOrder(FakeOrder):
    """A post-only GTD limit order (`limit_limit_gtd`) that rests on the book, or an IOC limit
    order (`sor_limit_ioc`) that ends at once. It may fill in several parts; `held` is what it
    still holds of the quote (a buy) or base (a sell) currency."""

    kind: str = "limit_limit_gtd"
    limit_price: Decimal = Decimal(0)
    base_size: Decimal = Decimal(0)
    end_time: datetime | None = None
    post_only: bool = False
    status: str = "OPEN"
    parts: list[dict[str, Any]] = field(default_factory=list)
    held: Decimal = Decimal(0)
    maker_fee_rate: Decimal = Decimal(0)

    @property
    def remaining(self) -> Decimal:
        return self.base_size - self.filled_size

    def fills_json(self) -> list[dict[str, Any]]:
        return list(self.parts)

    def to_json(self, settle_after: int) -> dict[str, Any]:
        final = self.status != "OPEN"
        value_after = (
            self.filled_value + self.total_fees
            if self.side is Side.BUY
            else self.filled_value - self.total_fees
        )
        average = self.filled_value / self.filled_size if self.filled_size else Decimal(0)
        return {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "product_id": self.product_id,
            "user_id": "fake-user",
            "side": self.side.value.upper(),
            "order_type": "LIMIT",
            "order_configuration": {self.kind: dict(self.configuration)},
            "status": self.status,
            "time_in_force": (
                "GOOD_UNTIL_DATE_TIME" if self.kind == "limit_limit_gtd" else "IMMEDIATE_OR_CANCEL"
            ),
            "created_time": _iso(self.created),
            "completion_percentage": str(trim(100 * self.filled_size / self.base_size))
            if self.base_size
            else "0",
            "filled_size": str(trim(self.filled_size)),
            "average_filled_price": str(trim(average)),
            "filled_value": str(trim(self.filled_value)),
            "total_fees": str(trim(self.total_fees)),
            "total_value_after_fees": str(trim(value_after)),
            "number_of_fills": str(len(self.parts)),
            "size_in_quote": False,
            "size_inclusive_of_fees": False,
            "settled": final,
            "product_type": "SPOT",
            "reject_reason": "",
            "cancel_message": "",
            "outstanding_hold_amount": str(trim(self.held)),
            "order_placement_source": "RETAIL_ADVANCED",
        }


def _time_param(query: dict[str, list[str]], name: str) -> datetime | None:
    """An RFC 3339 time from the query (start_date, end_sequence_timestamp, …), if given."""
    values = query.get(name)
    if not values or not values[0]:
        return None
    try:
        return datetime.fromisoformat(values[0].replace("Z", "+00:00"))
    except ValueError:
        raise Reply(400, {"error": "INVALID_ARGUMENT", "message": f"bad {name}"}) from None


@dataclass
class Account:
    currency: str
    available: Decimal
    hold: Decimal = Decimal(0)
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": f"{self.currency} Wallet",
            "currency": self.currency,
            "available_balance": {"value": str(self.available), "currency": self.currency},
            "default": self.currency == "GBP",
            "active": True,
            "created_at": "2026-01-01T00:00:00Z",
            "type": "ACCOUNT_TYPE_FIAT" if self.currency == "GBP" else "ACCOUNT_TYPE_CRYPTO",
            "ready": True,
            "hold": {"value": str(self.hold), "currency": self.currency},
        }


class Reply(Exception):
    """Raised inside a handler to send a status and a JSON body."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class FakeCoinbaseServer:
    def __init__(
        self,
        public_key: PublicKey | str | bytes,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        price: Decimal = Decimal("7900.01"),
        fee_rate: Decimal = Decimal("0.005"),
        gbp: Decimal = Decimal("1000.00"),
        btc: Decimal = Decimal("0"),
        settle_after: int = 0,
        page_size: int = 2,
    ) -> None:
        if isinstance(public_key, str | bytes):
            text = public_key.encode() if isinstance(public_key, str) else public_key
            loaded = load_pem_public_key(text)
            if not isinstance(loaded, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
                raise ValueError("the public key must be EC P-256 or Ed25519")
            public_key = loaded
        self.public_key: PublicKey = public_key
        self.algorithm = "EdDSA" if isinstance(public_key, ed25519.Ed25519PublicKey) else "ES256"
        self.price = price  # BTC-GBP's
        #: Other products' prices (`set_price(p, "ETH-GBP")`): a product with none is unknown.
        self.other_prices: dict[str, Decimal] = {}
        self.fee_rate = fee_rate
        self.settle_after = settle_after
        self.page_size = page_size
        self.lock = threading.RLock()
        self.faults: deque[Fault] = deque()
        self.orders: dict[str, FakeOrder] = {}
        self.by_client_id: dict[str, str] = {}
        # Four accounts, two to a page by default: BTC is on the second page, so a client
        # that does not follow the cursor misses it.
        self.accounts: dict[str, Account] = {
            "EUR": Account("EUR", Decimal("0")),
            "GBP": Account("GBP", gbp),
            "ETH": Account("ETH", Decimal("0")),
            "BTC": Account("BTC", btc),
        }
        self.requests: list[str] = []
        #: When each of `requests` came (Unix time), for counting those of a time window.
        self.request_times: list[float] = []
        #: Price any product (the scale tests and benchmark name thousands).
        self.price_all = False
        #: The account as `kripto live check` reads it (key permissions, portfolios): see the
        #: account block below.
        self.account = FakeAccount()
        self._init_maker()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    # -- Python control -------------------------------------------------------------------

    def start(self) -> FakeCoinbaseServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.1)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def inject(self, *faults: Fault | dict[str, Any] | str) -> None:
        """Queue faults: Fault objects, dicts like {"kind": "429"}, or bare kinds ("500")."""
        with self.lock:
            for f in faults:
                if isinstance(f, str):
                    f = Fault(kind=f)
                elif isinstance(f, dict):
                    f = Fault.parse(f)
                self.faults.append(f)

    def set_price(self, price: Decimal | str, product_id: str = "BTC-GBP") -> None:
        with self.lock:
            if product_id == "BTC-GBP":
                self.price = Decimal(price)
            else:
                self.other_prices[product_id] = Decimal(price)

    def _price_of(self, product_id: str) -> Decimal | None:
        if product_id == "BTC-GBP":
            return self.price
        price = self.other_prices.get(product_id)
        if price is None and self.price_all:
            digest = hashlib.sha256(product_id.encode()).digest()
            price = Decimal(1000 + int.from_bytes(digest[:4], "big") % 99000) / 100
        return price

    def price_requests(self, since: float = 0.0, until: float = float("inf")) -> int:
        """How many list-products (price) requests the server has had (between the Unix times
        `since` and `until`)."""
        with self.lock:
            return sum(
                1
                for r, t in zip(self.requests, self.request_times, strict=True)
                if r == f"GET {API}{MARKET_PRODUCTS}" and since <= t < until
            )

    def _spot(self, product_id: str) -> dict[str, Any]:
        """The public spot price a product's own tick reads (`GET /v2/prices/<PRODUCT>/spot`)."""
        with self.lock:
            price = self._price_of(product_id)
        if price is None:
            raise Reply(404, {"errors": [{"id": "not_found", "message": "Invalid currency"}]})
        base, _, quote = product_id.partition("-")
        return {"data": {"base": base, "currency": quote, "amount": str(price)}}

    def spot_requests(self, since: float = 0.0, until: float = float("inf")) -> int:
        """How many spot-price requests (one product each) the server has had."""
        with self.lock:
            return sum(
                1
                for r, t in zip(self.requests, self.request_times, strict=True)
                if r.startswith("GET /v2/prices/") and since <= t < until
            )

    def _market_products(self, query: dict[str, list[str]]) -> dict[str, Any]:
        wanted = query.get("product_ids", [])
        limit = int((query.get("limit") or [str(len(wanted) or 250)])[0])
        if len(wanted) > limit:
            raise Reply(400, {"error": "INVALID_ARGUMENT", "message": "limit below product_ids"})
        products = []
        with self.lock:
            for product_id in wanted:
                price = self._price_of(product_id)
                if price is not None:
                    products.append({"product_id": product_id, "price": str(price)})
        return {"products": products, "num_products": len(products)}

    def set_balance(self, currency: str, available: Decimal | str) -> None:
        with self.lock:
            self.accounts[currency].available = Decimal(available)

    def order_count(self) -> int:
        with self.lock:
            return len(self.orders)

    def balances(self) -> dict[str, dict[str, str]]:
        with self.lock:
            return {
                a.currency: {"available": str(a.available), "hold": str(a.hold)}
                for a in self.accounts.values()
            }

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "order_count": len(self.orders),
                "orders": [o.to_json(self.settle_after) for o in self.orders.values()],
                "balances": self.balances(),
                "price": str(self.price),
                "pending_faults": len(self.faults),
            }

    # -- the API --------------------------------------------------------------------------

    def _next_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if f.matches(method, path):
                    del self.faults[i]
                    return f
        return None

    def _authenticate(self, method: str, host: str, path: str, header: str | None) -> None:
        if not header or not header.startswith("Bearer "):
            raise Reply(401, {"error": "UNAUTHENTICATED", "message": "missing bearer token"})
        token = header.removeprefix("Bearer ")
        try:
            head = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[self.algorithm],
                options={"require": ["sub", "iss", "nbf", "exp", "uri"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            raise Reply(
                401, {"error": "UNAUTHENTICATED", "message": f"invalid token: {exc}"}
            ) from None
        expected_uri = f"{method} {host}{path}"
        problems = []
        if claims["iss"] != "cdp":
            problems.append("iss must be cdp")
        if claims["uri"] != expected_uri:
            problems.append(f"uri {claims['uri']!r} is not {expected_uri!r}")
        if head.get("kid") != claims["sub"]:
            problems.append("kid must equal sub")
        if not head.get("nonce"):
            problems.append("nonce missing")
        if claims["exp"] - claims["nbf"] > 300:
            problems.append("token lives too long")
        if problems:
            raise Reply(401, {"error": "UNAUTHENTICATED", "message": "; ".join(problems)})

    def _create_order(self, body: dict[str, Any], *, no_fill: bool = False) -> dict[str, Any]:
        client_order_id = str(body.get("client_order_id") or "")
        product_id = str(body.get("product_id") or "")
        side_text = str(body.get("side") or "")
        config = (body.get("order_configuration") or {}).get("market_market_ioc")
        known = self._price_of(product_id) is not None
        if not client_order_id or not known or side_text not in ("BUY", "SELL"):
            return _failure("INVALID_ARGUMENT", "client_order_id, product_id or side is invalid")
        if not isinstance(config, dict) or not (("quote_size" in config) ^ ("base_size" in config)):
            return _failure("INVALID_ARGUMENT", "market_market_ioc needs quote_size or base_size")
        with self.lock:
            existing = self.by_client_id.get(client_order_id)
            if existing is not None:
                return _success(self.orders[existing])
            side = Side(side_text.lower())
            price, fee = self._price_of(product_id) or self.price, self.fee_rate
            try:
                if "quote_size" in config:
                    fill = market_fill(side, Decimal(config["quote_size"]), price, fee)
                    size, value, fees = fill.filled_size, fill.executed_value, fill.fill_fees
                else:
                    size = round_down(Decimal(config["base_size"]), SATOSHI)
                    value = size * price
                    fees = trim(value * fee)
            except (ArithmeticError, ValueError):
                return _failure("INVALID_ARGUMENT", "the order size is not a positive number")
            if size <= 0:
                return _failure("INVALID_ARGUMENT", "the order is too small")
            base, _, quote = product_id.partition("-")
            for currency in (base, quote):
                self.accounts.setdefault(currency, Account(currency, Decimal("0")))
            gbp, btc = self.accounts[quote], self.accounts[base]  # named for BTC-GBP
            if (side is Side.BUY and value + fees > gbp.available) or (
                side is Side.SELL and size > btc.available
            ):
                return _failure(
                    "INSUFFICIENT_FUND",
                    "Insufficient balance in source account",
                    preview="PREVIEW_INSUFFICIENT_FUND",
                )
            if no_fill:
                pass  # the order is cancelled unfilled: no money moves
            elif side is Side.BUY:
                gbp.available -= value + fees
                btc.available += size
            else:
                gbp.available += value - fees
                btc.available -= size
            order = FakeOrder(
                order_id=str(uuid.uuid4()),
                client_order_id=client_order_id,
                product_id=product_id,
                side=side,
                configuration={k: str(v) for k, v in config.items()},
                filled_size=size,
                filled_value=value,
                total_fees=fees,
                price=price,
                created=datetime.now(UTC),
                unfilled=no_fill,
            )
            self.orders[order.order_id] = order
            self.by_client_id[client_order_id] = order.order_id
            return _success(order)

    def _get_order(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            self._sweep()
            order = self.orders.get(order_id)
            if order is None:
                raise Reply(404, {"error": "NOT_FOUND", "message": "order not found"})
            order.lookups += 1
            return {"order": order.to_json(self.settle_after)}

    def _page(self, items: list[Any], query: dict[str, list[str]]) -> tuple[list[Any], str, bool]:
        start = int((query.get("cursor") or ["0"])[0] or 0)
        limit = min(int((query.get("limit") or ["49"])[0]), self.page_size)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return page, str(start + limit) if more else "", more

    def _list_orders(self, query: dict[str, list[str]]) -> dict[str, Any]:
        if "client_order_id" in query:  # the real list endpoint has no such filter
            raise Reply(400, {"error": "INVALID_ARGUMENT", "message": "unknown client_order_id"})
        products = set(query.get("product_ids", []))
        start, end = _time_param(query, "start_date"), _time_param(query, "end_date")
        with self.lock:
            self._sweep()
            orders = sorted(self.orders.values(), key=lambda o: o.created, reverse=True)
            chosen = [
                o.to_json(self.settle_after)
                for o in orders
                if (not products or o.product_id in products)
                and (start is None or o.created >= start)
                and (end is None or o.created <= end)
            ]
        page, cursor, more = self._page(chosen, query)
        return {"orders": page, "sequence": "0", "has_next": more, "cursor": cursor}

    def _list_fills(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """One fill per filled order (at its creation, or `filled_at`), newest first; like the
        real List Fills,
        the reply has a cursor and no has_next."""
        order_ids = set(query.get("order_ids", []))
        products = set(query.get("product_ids", []))
        start = _time_param(query, "start_sequence_timestamp")
        end = _time_param(query, "end_sequence_timestamp")
        with self.lock:
            self._sweep()
            orders = sorted(self.orders.values(), key=lambda o: o.created, reverse=True)
            chosen = [
                f
                for o in orders
                for f in reversed(o.fills_json())
                if (not order_ids or o.order_id in order_ids)
                and (not products or o.product_id in products)
                and (start is None or _fill_time(f) >= start)
                and (end is None or _fill_time(f) <= end)
            ]
        page, cursor, _ = self._page(chosen, query)
        return {"fills": page, "cursor": cursor}

    def create_order_directly(
        self,
        client_order_id: str,
        quote_size: str,
        side: str = "BUY",
        product_id: str = "BTC-GBP",
        no_fill: bool = False,
    ) -> dict[str, Any]:
        """An order placed behind Kripto's back (in Coinbase's own app, say): as POST /orders
        (`no_fill`: as with the no_fill fault)."""
        return self._create_order(
            {
                "client_order_id": client_order_id,
                "product_id": product_id,
                "side": side,
                "order_configuration": {"market_market_ioc": {"quote_size": quote_size}},
            },
            no_fill=no_fill,
        )

    def _accounts(self, query: dict[str, list[str]]) -> dict[str, Any]:
        with self.lock:
            items = [a.to_json() for a in self.accounts.values()]
        page, cursor, more = self._page(items, query)
        return {"accounts": page, "has_next": more, "cursor": cursor, "size": len(page)}

    def _product(self, product_id: str) -> dict[str, Any]:
        with self.lock:
            price = self._price_of(product_id)
        if price is None:
            raise Reply(404, {"error": "NOT_FOUND", "message": "product not found"})
        base, _, quote = product_id.partition("-")
        return {
            "product_id": product_id,
            "price": str(price),
            "base_increment": "0.00000001",
            "quote_increment": "0.01",
            "base_min_size": "0.00000001",
            "quote_min_size": "1",
            "base_currency_id": base,
            "quote_currency_id": quote,
            "status": "online",
            "trading_disabled": False,
        } | self.product_rules.get(product_id, {})

    def _transaction_summary(self) -> dict[str, Any]:
        with self.lock:
            fee = self.fee_rate
        return {
            "total_volume": 0,
            "total_fees": 0,
            "fee_tier": {
                "pricing_tier": "Advanced 1",
                "taker_fee_rate": str(fee),
                "maker_fee_rate": str(fee * Decimal("0.8")),
            },
        }

    # -- the account, as `kripto live check` reads it ---------------------------------------
    # Get API Key Permissions (`GET /key_permissions`: can_view, can_trade, can_transfer,
    # portfolio_uuid, portfolio_type), List Portfolios (`GET /portfolios`), Get Product with
    # its status flags and sizes (`GET /products/{id}`), Preview Order (`POST /orders/preview`:
    # commission_total, order_total, errs), as Coinbase's Advanced Trade reference documents
    # them. (`GET /time` is the maker block's, with `clock_skew`.)

    def _account_route(self, method: str, rel: str, body: Any) -> Any:
        account = self.account
        if method == "GET" and rel == "/key_permissions":
            with self.lock:
                return dict(account.permissions)
        if method == "GET" and rel == "/portfolios":
            with self.lock:
                return {"portfolios": [dict(p) for p in account.portfolios]}
        if method == "GET" and rel.startswith("/products/") and rel.count("/") == 2:
            return self._full_product(rel.removeprefix("/products/"))
        if method == "POST" and rel == "/orders/preview":
            return self._preview(body if isinstance(body, dict) else {})
        return NOT_MINE

    def _full_product(self, product_id: str) -> dict[str, Any]:
        """Get Product with every status flag and size (PRODUCT_FIELDS), under the product's
        own figures and `product_rules` (`server.product_rules["BTC-GBP"] = {"cancel_only":
        True}`)."""
        return PRODUCT_FIELDS | self._product(product_id)

    def _preview(self, body: dict[str, Any]) -> dict[str, Any]:
        """What Preview Order says of an order, placing nothing: its commission at the fee
        rate, and in `errs` why it would be refused (size, status, funds)."""
        product_id = str(body.get("product_id") or "")
        side_text = str(body.get("side") or "")
        config = (body.get("order_configuration") or {}).get("market_market_ioc") or {}
        with self.lock:
            price = self._price_of(product_id)
            if price is None or side_text not in ("BUY", "SELL"):
                return _preview_reply(["PREVIEW_INVALID_PRODUCT_ID"])
            fields = self._full_product(product_id)
            side = Side(side_text.lower())
            errs: list[str] = []
            if fields["trading_disabled"] or fields["cancel_only"] or fields["is_disabled"]:
                errs.append("PREVIEW_INVALID_PRODUCT_ID")
            if fields["post_only"] or fields["limit_only"]:
                errs.append("PREVIEW_INVALID_ORDER_CONFIG")
            base, _, quote = product_id.partition("-")
            if "quote_size" in config:
                quote_size = Decimal(str(config["quote_size"]))
                fill = market_fill(side, quote_size, price, self.fee_rate)
                size, value, fees = fill.filled_size, fill.executed_value, fill.fill_fees
                if quote_size < Decimal(fields["quote_min_size"]):
                    errs.append("PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL")
            else:
                size = Decimal(str(config.get("base_size") or "0"))
                value = size * price
                fees = trim(value * self.fee_rate)
                if size < Decimal(fields["base_min_size"]):
                    errs.append("PREVIEW_INVALID_BASE_SIZE_TOO_SMALL")
            held = self.accounts.get(quote if side is Side.BUY else base)
            needed = value + fees if side is Side.BUY else size
            if held is None or held.available < needed:
                errs.append("PREVIEW_INSUFFICIENT_FUND")
            total = value + fees if side is Side.BUY else value - fees
            return _preview_reply(
                errs,
                order_total=str(trim(total)),
                commission_total=str(trim(fees)),
                quote_size=str(trim(value)),
                base_size=str(trim(size)),
                best_bid=str(price),
                best_ask=str(price),
            )

    # -- Maker-first (issue 23): the order book, limit orders, cancels, best bid/ask, time ----
    #
    # Each product has a book (`set_book`; by default a penny either side of its price). A
    # post-only GTD order (`limit_limit_gtd`) that would cross it is refused with
    # INVALID_LIMIT_PRICE_POST_ONLY; otherwise it rests, holding its funds, until the book
    # moves through its price (`set_book`: filled in full at its limit, as maker), a trade
    # reaches it (`trade_at`, `fill_resting`: in part), it is cancelled (`POST
    # /orders/batch_cancel`) or its end time passes (EXPIRED, looked at on every request).
    # An IOC limit order (`sor_limit_ioc`) takes the far touch up to its size there and its
    # price cap, as taker, and is cancelled for the rest. Fault {"kind": "fill_before_cancel"}
    # fills the order to be cancelled in full first: the cancel loses the race.
    # `GET /best_bid_ask?product_ids=…` and `GET /time` (`clock_skew` seconds off) as Coinbase.

    def _init_maker(self) -> None:
        self.books: dict[str, Book] = {}
        #: The maker rate (None: 0.8 of the taker rate, as /transaction_summary says).
        self.maker_fee_rate: Decimal | None = None
        #: Product fields over the defaults of `GET /products/{id}` (`base_min_size`,
        #: `trading_disabled`, `post_only`, `cancel_only`, `limit_only`, `status`, ...).
        self.product_rules: dict[str, dict[str, Any]] = {}
        #: Seconds the server's clock is ahead of this machine's (`GET /time`).
        self.clock_skew = 0.0
        #: When set, the server's "now" for expiry (tests move it rather than wait).
        self.now: datetime | None = None

    def _now(self) -> datetime:
        return self.now or datetime.now(UTC)

    def maker_rate(self) -> Decimal:
        return (
            self.maker_fee_rate
            if self.maker_fee_rate is not None
            else self.fee_rate * Decimal("0.8")
        )

    def book_of(self, product_id: str = "BTC-GBP") -> Book | None:
        with self.lock:
            book = self.books.get(product_id)
            if book is not None:
                return book
            price = self._price_of(product_id)
            if price is None:
                return None
            return Book(price - Decimal("0.01"), price + Decimal("0.01"))

    def set_book(
        self,
        bid: Decimal | str,
        ask: Decimal | str,
        product_id: str = "BTC-GBP",
        *,
        bid_size: Decimal | str | None = None,
        ask_size: Decimal | str | None = None,
    ) -> None:
        """Move the book. A resting buy at or above the new ask, or a sell at or below the new
        bid, has been traded through: it fills in full at its limit price, as maker."""
        with self.lock:
            self.books[product_id] = Book(
                Decimal(bid),
                Decimal(ask),
                None if bid_size is None else Decimal(bid_size),
                None if ask_size is None else Decimal(ask_size),
            )
            self._sweep()
            for order in self._resting(product_id):
                through = (
                    order.limit_price >= Decimal(ask)
                    if order.side is Side.BUY
                    else order.limit_price <= Decimal(bid)
                )
                if through:
                    self._fill_part(order, order.remaining, order.limit_price, "MAKER")

    def trade_at(
        self, price: Decimal | str, size: Decimal | str | None = None, product_id: str = "BTC-GBP"
    ) -> None:
        """A trade prints at `price` for `size` coins (None: any size): resting orders it
        reaches (buys at or above it, sells at or below it) fill at their limit, oldest first,
        until the size is used up."""
        left = None if size is None else Decimal(size)
        with self.lock:
            self._sweep()
            for order in self._resting(product_id):
                if left is not None and left <= 0:
                    break
                reached = (
                    order.limit_price >= Decimal(price)
                    if order.side is Side.BUY
                    else order.limit_price <= Decimal(price)
                )
                if reached:
                    part = order.remaining if left is None else min(left, order.remaining)
                    self._fill_part(order, part, order.limit_price, "MAKER")
                    if left is not None:
                        left -= part

    def fill_resting(self, client_order_id: str, size: Decimal | str | None = None) -> None:
        """Fill a resting order (by its client order ID) by `size` coins, or in full."""
        with self.lock:
            order = self.orders[self.by_client_id[client_order_id]]
            assert isinstance(order, FakeLimitOrder) and order.status == "OPEN"
            part = order.remaining if size is None else Decimal(size)
            self._fill_part(order, part, order.limit_price, "MAKER")

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        with self.lock:
            self._sweep()
            order_id = self.by_client_id.get(client_order_id)
            return None if order_id is None else self.orders[order_id].to_json(self.settle_after)

    def open_orders(self) -> list[str]:
        """The client order IDs of the orders resting on the book now."""
        with self.lock:
            self._sweep()
            return [
                o.client_order_id
                for o in self.orders.values()
                if isinstance(o, FakeLimitOrder) and o.status == "OPEN"
            ]

    def _resting(self, product_id: str) -> list[FakeLimitOrder]:
        return [
            o
            for o in sorted(self.orders.values(), key=lambda o: o.created)
            if isinstance(o, FakeLimitOrder) and o.status == "OPEN" and o.product_id == product_id
        ]

    def _sweep(self) -> None:
        """GTD orders whose end time has passed expire, releasing what they hold."""
        now = self._now()
        for order in list(self.orders.values()):
            if (
                isinstance(order, FakeLimitOrder)
                and order.status == "OPEN"
                and order.end_time is not None
                and order.end_time <= now
            ):
                self._end(order, "EXPIRED")

    def _accounts_of(self, product_id: str) -> tuple[Account, Account]:
        base, _, quote = product_id.partition("-")
        for currency in (base, quote):
            self.accounts.setdefault(currency, Account(currency, Decimal("0")))
        return self.accounts[base], self.accounts[quote]

    def _fill_part(self, order: FakeLimitOrder, size: Decimal, price: Decimal, role: str) -> None:
        size = min(size, order.remaining)
        if size <= 0:
            return
        base, quote = self._accounts_of(order.product_id)
        value = size * price
        rate = order.maker_fee_rate if role == "MAKER" else self.fee_rate
        fee = trim(value * rate)
        if order.side is Side.BUY:
            release = (
                min(order.held, size * order.limit_price * (1 + order.maker_fee_rate))
                if order.kind == "limit_limit_gtd"
                else Decimal(0)
            )
            order.held -= release
            quote.hold -= release
            quote.available += release - (value + fee)
            base.available += size
        else:
            release = min(order.held, size) if order.kind == "limit_limit_gtd" else Decimal(0)
            order.held -= release
            base.hold -= release
            base.available += release - size
            quote.available += value - fee
        order.filled_size += size
        order.filled_value += value
        order.total_fees += fee
        order.price = price
        at = self._now()
        order.filled_at = at
        order.parts.append(
            {
                "entry_id": f"entry-{order.order_id}-{len(order.parts) + 1}",
                "trade_id": f"trade-{order.order_id}-{len(order.parts) + 1}",
                "order_id": order.order_id,
                "trade_time": _iso(at),
                "trade_type": "FILL",
                "price": str(trim(price)),
                "size": str(trim(size)),
                "commission": str(fee),
                "product_id": order.product_id,
                "sequence_timestamp": _iso(at),
                "liquidity_indicator": role,
                "size_in_quote": False,
                "user_id": "fake-user",
                "side": order.side.value.upper(),
                "retail_portfolio_id": "",
            }
        )
        if order.remaining <= 0:
            self._end(order, "FILLED")

    def _end(self, order: FakeLimitOrder, status: str) -> None:
        """End an order: what it still holds goes back to available."""
        base, quote = self._accounts_of(order.product_id)
        held = quote if order.side is Side.BUY else base
        held.hold -= order.held
        held.available += order.held
        order.held = Decimal(0)
        order.status = status

    def _rules(self, product_id: str) -> dict[str, Any]:
        return self._product(product_id)

    def _create_limit(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        client_order_id = str(body.get("client_order_id") or "")
        product_id = str(body.get("product_id") or "")
        side_text = str(body.get("side") or "")
        config = (body.get("order_configuration") or {}).get(kind)
        book = self.book_of(product_id)
        if not client_order_id or book is None or side_text not in ("BUY", "SELL"):
            return _failure("INVALID_ARGUMENT", "client_order_id, product_id or side is invalid")
        if not isinstance(config, dict):
            return _failure("INVALID_ARGUMENT", f"{kind} needs a configuration")
        with self.lock:
            self._sweep()
            existing = self.by_client_id.get(client_order_id)
            if existing is not None:
                return _success(self.orders[existing])
            rules = self._rules(product_id)
            if rules.get("trading_disabled") or rules.get("cancel_only"):
                return _failure(
                    "INVALID_ARGUMENT", "trading is disabled", new_order="TRADING_DISABLED"
                )
            side = Side(side_text.lower())
            base_increment = Decimal(str(rules["base_increment"]))
            quote_increment = Decimal(str(rules["quote_increment"]))
            try:
                limit = Decimal(str(config["limit_price"]))
                quote_size = config.get("quote_size")
                base_text = config.get("base_size")
                if (quote_size is None) == (base_text is None):
                    raise ValueError
                end_time = (
                    datetime.fromisoformat(str(config["end_time"]).replace("Z", "+00:00"))
                    if kind == "limit_limit_gtd"
                    else None
                )
            except (KeyError, ArithmeticError, ValueError):
                return _failure("INVALID_ARGUMENT", f"{kind}: bad limit_price, size or end_time")
            if not limit.is_finite() or limit <= 0 or limit % quote_increment != 0:
                return _failure(
                    "INVALID_PRICE_PRECISION",
                    "Limit price has too many decimal places",
                    preview="PREVIEW_INVALID_PRICE_PRECISION",
                    new_order="INVALID_PRICE_PRECISION",
                )
            taker = self.fee_rate
            if quote_size is not None:
                if side is Side.SELL or kind == "limit_limit_gtd":
                    return _failure("INVALID_ARGUMENT", "quote_size is for IOC buys only")
                price = min(limit, book.ask)
                size = round_down(Decimal(str(quote_size)) / (price * (1 + taker)), base_increment)
            else:
                size = Decimal(str(base_text))
                if size % base_increment != 0:
                    return _failure(
                        "INVALID_SIZE_PRECISION",
                        "Size has too many decimal places",
                        preview="PREVIEW_INVALID_SIZE_PRECISION",
                        new_order="INVALID_SIZE_PRECISION",
                    )
            if size <= 0 or size < Decimal(str(rules["base_min_size"])):
                return _failure(
                    "INVALID_ARGUMENT",
                    "Order size is below the minimum",
                    preview="PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
                )
            post_only = bool(config.get("post_only", False))
            if kind == "limit_limit_gtd":
                if end_time is None or end_time <= self._now():
                    return _failure(
                        "INVALID_ARGUMENT",
                        "end_time must be in the future",
                        preview="PREVIEW_INVALID_END_TIME",
                    )
                crosses = limit >= book.ask if side is Side.BUY else limit <= book.bid
                if post_only and crosses:
                    return _failure(
                        "INVALID_LIMIT_PRICE_POST_ONLY",
                        "Invalid limit price for post only order",
                        preview="PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
                        new_order="INVALID_LIMIT_PRICE_POST_ONLY",
                    )
                if crosses:
                    return _failure("INVALID_ARGUMENT", "the fake rests post-only orders only")
            base, quote = self._accounts_of(product_id)
            maker = self.maker_rate()
            if kind == "limit_limit_gtd":
                need = size * limit * (1 + maker) if side is Side.BUY else size
            else:
                price = book.ask if side is Side.BUY else book.bid
                need = size * price * (1 + taker) if side is Side.BUY else size
            have = quote.available if side is Side.BUY else base.available
            if need > have:
                return _failure(
                    "INSUFFICIENT_FUND",
                    "Insufficient balance in source account",
                    preview="PREVIEW_INSUFFICIENT_FUND",
                    new_order="INSUFFICIENT_FUND",
                )
            order = FakeLimitOrder(
                order_id=str(uuid.uuid4()),
                client_order_id=client_order_id,
                product_id=product_id,
                side=side,
                configuration={k: str(v) for k, v in config.items()},
                filled_size=Decimal(0),
                filled_value=Decimal(0),
                total_fees=Decimal(0),
                price=limit,
                created=self._now(),
                kind=kind,
                limit_price=limit,
                base_size=size,
                end_time=end_time,
                post_only=post_only,
                maker_fee_rate=maker,
            )
            self.orders[order.order_id] = order
            self.by_client_id[client_order_id] = order.order_id
            if kind == "limit_limit_gtd":
                order.held = need
                account = quote if side is Side.BUY else base
                account.available -= need
                account.hold += need
            else:
                touch, depth = (
                    (book.ask, book.ask_size) if side is Side.BUY else (book.bid, book.bid_size)
                )
                reachable = touch <= limit if side is Side.BUY else touch >= limit
                if reachable:
                    part = size if depth is None else min(size, depth)
                    self._fill_part(order, part, touch, "TAKER")
                if order.status == "OPEN":
                    order.status = "CANCELLED"
            return _success(order)

    def _batch_cancel(self, body: dict[str, Any], fault: Fault | None) -> dict[str, Any]:
        results = []
        with self.lock:
            self._sweep()
            for order_id in [str(i) for i in (body.get("order_ids") or [])]:
                order = self.orders.get(order_id)
                if order is None:
                    results.append(
                        {
                            "success": False,
                            "failure_reason": "UNKNOWN_CANCEL_ORDER",
                            "order_id": order_id,
                        }
                    )
                    continue
                if (
                    fault is not None
                    and fault.kind == "fill_before_cancel"
                    and isinstance(order, FakeLimitOrder)
                    and order.status == "OPEN"
                ):
                    self._fill_part(order, order.remaining, order.limit_price, "MAKER")
                if isinstance(order, FakeLimitOrder) and order.status == "OPEN":
                    self._end(order, "CANCELLED")
                    results.append(
                        {
                            "success": True,
                            "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
                            "order_id": order_id,
                        }
                    )
                else:
                    results.append(
                        {
                            "success": False,
                            "failure_reason": "UNKNOWN_CANCEL_ORDER",
                            "order_id": order_id,
                        }
                    )
        return {"results": results}

    def _best_bid_ask(self, query: dict[str, list[str]]) -> dict[str, Any]:
        books = []
        at = _iso(self._now())
        for product_id in query.get("product_ids", []):
            book = self.book_of(product_id)
            if book is None:
                continue
            books.append(
                {
                    "product_id": product_id,
                    "bids": [{"price": str(book.bid), "size": str(book.bid_size or "1")}],
                    "asks": [{"price": str(book.ask), "size": str(book.ask_size or "1")}],
                    "time": at,
                }
            )
        return {"pricebooks": books}

    def _server_time(self) -> dict[str, Any]:
        now = time.time() + self.clock_skew
        at = datetime.fromtimestamp(now, UTC)
        return {
            "iso": _iso(at),
            "epochSeconds": str(int(now)),
            "epochMillis": str(int(now * 1000)),
        }

    def _maker_control(self, method: str, path: str, body: dict[str, Any]) -> Any:
        """Control endpoints for a fake in its own process: `POST /_book` {bid, ask, product_id,
        bid_size, ask_size}, `POST /_trade` {price, size, product_id}, `POST /_clock` {skew,
        now}, `POST /_rules` {product_id, ...fields}, `GET /_open` (resting client order IDs)."""
        product_id = str(body.get("product_id") or "BTC-GBP")
        if method == "POST" and path == "/_book":
            self.set_book(
                str(body["bid"]),
                str(body["ask"]),
                product_id,
                bid_size=body.get("bid_size"),
                ask_size=body.get("ask_size"),
            )
            return {"ok": True}
        if method == "POST" and path == "/_trade":
            self.trade_at(str(body["price"]), body.get("size"), product_id)
            return {"ok": True}
        if method == "POST" and path == "/_clock":
            with self.lock:
                self.clock_skew = float(body.get("skew", 0))
                now = body.get("now")
                self.now = datetime.fromisoformat(str(now).replace("Z", "+00:00")) if now else None
            return {"ok": True}
        if method == "POST" and path == "/_rules":
            with self.lock:
                self.product_rules[product_id] = {
                    k: v for k, v in body.items() if k != "product_id"
                }
            return {"ok": True}
        if method == "GET" and path == "/_open":
            return {"open": self.open_orders()}
        return None

    def _maker_route(
        self, method: str, rel: str, query: dict[str, list[str]], body: Any, fault: Fault | None
    ) -> Any:
        """The maker-first endpoints; None for a request they do not answer."""
        if method == "POST" and rel == "/orders" and isinstance(body, dict):
            config = body.get("order_configuration") or {}
            for kind in ("limit_limit_gtd", "sor_limit_ioc"):
                if kind in config:
                    return self._create_limit(body, kind)
        if method == "POST" and rel == "/orders/batch_cancel":
            return self._batch_cancel(body if isinstance(body, dict) else {}, fault)
        if method == "GET" and rel == "/best_bid_ask":
            return self._best_bid_ask(query)
        if method == "GET" and rel == "/time":
            return self._server_time()
        return None

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        fault: Fault | None = None,
    ) -> Any:
        rel = path.removeprefix(API)
        answered = self._account_route(method, rel, body)
        if answered is not NOT_MINE:
            return answered
        if method == "GET" and rel == MARKET_PRODUCTS:
            return self._market_products(query)
        if method == "GET" and path.startswith("/v2/prices/") and path.endswith("/spot"):
            return self._spot(path.removeprefix("/v2/prices/").removesuffix("/spot"))
        maker = self._maker_route(method, rel, query, body, fault)
        if maker is not None:
            return maker
        if method == "POST" and rel == "/orders":
            no_fill = fault is not None and fault.kind == "no_fill"
            if fault is not None and fault.kind == "insufficient":
                return _failure(
                    "INSUFFICIENT_FUND",
                    "Insufficient balance in source account",
                    preview="PREVIEW_INSUFFICIENT_FUND",
                )
            created = self._create_order(body if isinstance(body, dict) else {}, no_fill=no_fill)
            if fault is not None and fault.kind == "duplicate" and created.get("success"):
                return _failure(
                    "INVALID_ARGUMENT",
                    "duplicate client_order_id",
                    new_order="DUPLICATE_CLIENT_ORDER_ID",
                )
            return created
        if method == "GET" and rel == "/orders/historical/batch":
            return self._list_orders(query)
        if method == "GET" and rel == "/orders/historical/fills":
            return self._list_fills(query)
        if method == "GET" and rel.startswith("/orders/historical/"):
            return self._get_order(rel.removeprefix("/orders/historical/"))
        if method == "GET" and rel == "/accounts":
            return self._accounts(query)
        if method == "GET" and rel.startswith("/products/"):
            return self._product(rel.removeprefix("/products/"))
        if method == "GET" and rel == "/transaction_summary":
            return self._transaction_summary()
        raise Reply(404, {"error": "NOT_FOUND", "message": f"no route {method} {path}"})

    def _control(self, method: str, path: str, body: Any) -> Any:
        if method == "GET" and path == "/_state":
            return self.state()
        maker = self._maker_control(method, path, body if isinstance(body, dict) else {})
        if maker is not None:
            return maker
        if method == "POST" and path == "/_fault":
            faults = body.get("faults", []) if isinstance(body, dict) else body
            try:
                self.inject(*(Fault.parse(f) for f in faults))
            except (KeyError, ValueError, TypeError) as exc:
                raise Reply(400, {"error": str(exc)}) from None
            return {"queued": len(self.faults)}
        if method == "POST" and path == "/_config":
            with self.lock:
                if "price" in body:
                    self.price = Decimal(str(body["price"]))
                if "fee_rate" in body:
                    self.fee_rate = Decimal(str(body["fee_rate"]))
                if "settle_after" in body:
                    self.settle_after = int(body["settle_after"])
                for currency, amount in (body.get("balances") or {}).items():
                    self.accounts[currency].available = Decimal(str(amount))
            return self.state()
        raise Reply(404, {"error": "NOT_FOUND"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    self._send(400, {"error": "INVALID_ARGUMENT", "message": "bad JSON"})
                    return
                if parts.path.startswith("/_"):
                    try:
                        self._send(200, server._control(method, parts.path, body))
                    except Reply as r:
                        self._send(r.status, r.body)
                    return
                with server.lock:
                    server.requests.append(f"{method} {parts.path}")
                    server.request_times.append(time.time())
                rel = parts.path.removeprefix(API)
                fault = server._next_fault(method, rel)
                status_fault = fault is not None and fault.kind in Fault.STATUSES
                if fault is not None and status_fault and not fault.after:
                    self._fail(fault)
                    return
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.seconds)
                try:
                    host = self.headers.get("Host", "")
                    public = rel.startswith("/market/") or parts.path.startswith("/v2/prices/")
                    if not public:  # the public API needs no key
                        server._authenticate(
                            method, host, parts.path, self.headers.get("Authorization")
                        )
                    reply = server._route(method, parts.path, query, body, fault)
                    status, headers = 200, {}
                except Reply as r:
                    status, reply, headers = r.status, r.body, r.headers
                if fault is not None and status_fault:  # handled; the reply is the error
                    self._fail(fault)
                    return
                if fault is not None and fault.kind == "drop":
                    self._drop()
                    return
                if fault is not None and fault.kind == "hang":
                    time.sleep(fault.seconds)  # the order exists; the reply is late
                self._send(status, reply, headers)

            def _fail(self, fault: Fault) -> None:
                if fault.kind == "429":
                    headers, data, content_type = fault.rate_limited()
                    self._send_bytes(429, data, content_type, headers)
                    return
                error = Fault.STATUSES[fault.kind]
                message = "not found" if fault.kind == "404" else error.lower().replace("_", " ")
                self._send(int(fault.kind), {"error": error, "message": message})

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                self._send_bytes(status, json.dumps(body).encode(), "application/json", headers)

            def _send_bytes(
                self,
                status: int,
                data: bytes,
                content_type: str,
                headers: dict[str, str] | None = None,
            ) -> None:
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up on a slow reply

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler


def _fill_time(fill: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(fill["trade_time"]).replace("Z", "+00:00"))


def _success(order: FakeOrder) -> dict[str, Any]:
    return {
        "success": True,
        "success_response": {
            "order_id": order.order_id,
            "product_id": order.product_id,
            "side": order.side.value.upper(),
            "client_order_id": order.client_order_id,
        },
        "order_configuration": {
            order.kind if isinstance(order, FakeLimitOrder) else "market_market_ioc": dict(
                order.configuration
            )
        },
    }


def _failure(error: str, message: str, preview: str = "", new_order: str = "") -> dict[str, Any]:
    return {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": "",
        "error_response": {
            "error": error,
            "message": message,
            "error_details": message,
            "preview_failure_reason": preview or "UNKNOWN_PREVIEW_FAILURE_REASON",
            "new_order_failure_reason": new_order or "UNKNOWN_FAILURE_REASON",
        },
    }


# -- the account, as `kripto live check` reads it -------------------------------------------

#: `_account_route`'s answer for a request that is not one of its endpoints.
NOT_MINE = object()
#: A product's status and sizes as Get Product shows them (for BTC-GBP, today's real figures).
PRODUCT_FIELDS: dict[str, Any] = {
    "quote_min_size": "1",
    "quote_max_size": "1000000",
    "base_min_size": "0.00000001",
    "base_max_size": "3400",
    "base_increment": "0.00000001",
    "quote_increment": "0.01",
    "status": "online",
    "trading_disabled": False,
    "is_disabled": False,
    "cancel_only": False,
    "limit_only": False,
    "post_only": False,
    "view_only": False,
    "auction_mode": False,
}
PORTFOLIO_UUID = "7f3d5c2a-1b4e-4c8d-9a6f-0e2b8d4c6a10"


@dataclass
class FakeAccount:
    """The key's permissions and portfolio."""

    permissions: dict[str, Any] = field(
        default_factory=lambda: {
            "can_view": True,
            "can_trade": True,
            "can_transfer": False,
            "portfolio_uuid": PORTFOLIO_UUID,
            "portfolio_type": "DEFAULT",
        }
    )
    portfolios: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"name": "Default", "uuid": PORTFOLIO_UUID, "type": "DEFAULT", "deleted": False}
        ]
    )


def _preview_reply(errs: list[str], **figures: str) -> dict[str, Any]:
    zero = {
        "order_total": "0",
        "commission_total": "0",
        "quote_size": "0",
        "base_size": "0",
        "best_bid": "0",
        "best_ask": "0",
    }
    return (
        zero
        | figures
        | {
            "errs": errs,
            "warning": [],
            "is_max": False,
            "preview_id": str(uuid.uuid4()),
            "slippage": "0",
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake Coinbase Advanced Trade API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--public-key-file", required=True)
    parser.add_argument("--price", default="7900.01")
    parser.add_argument("--fee-rate", default="0.005")
    parser.add_argument("--gbp", default="1000.00")
    parser.add_argument("--btc", default="0")
    parser.add_argument("--settle-after", type=int, default=0)
    args = parser.parse_args(argv)
    with open(args.public_key_file, "rb") as f:
        public_key = f.read()
    server = FakeCoinbaseServer(
        public_key,
        host=args.host,
        port=args.port,
        price=Decimal(args.price),
        fee_rate=Decimal(args.fee_rate),
        gbp=Decimal(args.gbp),
        btc=Decimal(args.btc),
        settle_after=args.settle_after,
    )

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.close, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {server.url}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
