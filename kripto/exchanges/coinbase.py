"""Coinbase Advanced Trade (live trading) over httpx, with JWT keys.

Idempotency: every order carries the trade's key as `client_order_id`. Before placing, the
client looks the key up; Coinbase's List Orders (`GET /orders/historical/batch`) has no
client-order-ID filter, so the lookup pages through the newest orders and matches on the
field (the newest come first, and a retry follows its first attempt within minutes). Coinbase
itself also returns the existing order for a duplicate `client_order_id`, so an order that is
older than the pages searched is still never placed twice.

Sizes: a buy is `market_market_ioc.quote_size` = the amount in the product's quote currency
(GBP for BTC-GBP; fees come out of it, as in the seed). Coinbase sizes a market *sell* in the
base currency (`base_size`, which its SDK requires for sells), so a sell of £X (or €X of
ETH-EUR) reads that product's current price and base increment and sells
round_down(X / price) of its base. The amount is normalised to whole pence first, as the
original did.

Mapping onto the seed's order shape: id ← order_id, funds ← quote_size (a sell by base_size has
no quote_size; its funds are the filled value), fillFees ← total_fees, executedValue ←
filled_value, createdAt ← created_time, filledSize keeps its name. `settled` is the reply's flag,
except that an order in a final status with something filled is settled (it will not change).

Status: an IOC order can end CANCELLED, EXPIRED or FAILED with nothing filled (no liquidity, for
one); that is not a trade but OrderRejected, whichever call reads it.

Errors while an order may exist (its look-up, its create, every read of it): every HTTP error,
401/403 and other 4xx included, and every timeout or dropped connection is ExchangeUnavailable,
retried until Coinbase answers; only a `success: false` create (before any order exists) or an
order ended with nothing filled is a verdict. A create refused as a duplicate `client_order_id`
looks the existing order up and carries on with it. Elsewhere (the wallet, the fee tier, the
checks before a key is claimed): 401/403 → BadCredentials; 429 → RetryableError waiting as
Retry-After or x-ratelimit-reset say, else backing off exponentially (kripto.ratelimit); 5xx,
timeouts and dropped connections → RetryableError; `success: false` bodies → InsufficientFunds or
OrderRejected; 404 → InvalidInput, except for an order whose ID Coinbase gave us (not visible
yet → RetryableError). No message contains the private key, a token or the full key name, and a
reply's body shows only as a short excerpt (an HTML error page as its title).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

import httpx

from kripto.errors import (
    BadCredentials,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidInput,
    KriptoError,
    NonRetryableError,
    OrderRejected,
    OrderUnfilled,
    PostOnlyWouldCross,
    RetryableError,
)
from kripto.exchanges.base import check_ioc, check_limit, check_market, sell_size
from kripto.exchanges.coinbase_auth import CoinbaseSigner, load_private_key, mask_key_name
from kripto.execution import Fill, Liquidity, ProductRules, Quote
from kripto.fees import FeeTier
from kripto.models import (
    DEFAULT_PRODUCT,
    Balance,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Wallet,
    currencies,
)
from kripto.money import PENNY, SATOSHI, fmt_money, fmt_size
from kripto.ratelimit import ORDER, READ, Limiter, describe_wait, excerpt, retry_after

API_PREFIX = "/api/v3/brokerage"
#: Statuses an order never leaves.
FINAL_STATUSES = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED"})
#: Final statuses that, with nothing filled, mean no trade happened; in words.
UNFILLED_STATUSES = {"CANCELLED": "was cancelled", "EXPIRED": "expired", "FAILED": "failed"}

__all__ = ["API_PREFIX", "CoinbaseExchange", "load_private_key", "order_from_coinbase"]


def _message(reply: httpx.Response) -> str:
    return excerpt(reply, 200)


def _parse_time(text: str) -> datetime:
    """Coinbase times look like 2021-05-31T09:59:59.123456789Z; Python reads up to 6 digits."""
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unfilled(data: dict[str, Any], status: str) -> OrderUnfilled:
    """Why an order ended with nothing filled, naming the order and Coinbase's own reason."""
    order_id = str(data.get("order_id") or "?")
    client_order_id = str(data.get("client_order_id") or "")
    name = f"{client_order_id} (Coinbase order {order_id})" if client_order_id else order_id
    reasons = []
    reject = str(data.get("reject_reason") or "").strip()
    if reject and not reject.endswith("UNSPECIFIED"):
        reasons.append(f"reject reason {reject}")
    cancel = str(data.get("cancel_message") or "").strip()
    if cancel:
        reasons.append(cancel)
    why = f": {'; '.join(reasons)}" if reasons else ""
    return OrderUnfilled(
        f"Coinbase: order {name} {UNFILLED_STATUSES[status]} with nothing filled{why}"
    )


def _duplicate(reply: dict[str, Any]) -> bool:
    """A `success: false` create whose reason names a duplicate client order ID."""
    error = reply.get("error_response") or {}
    reasons = [reply.get("failure_reason"), *error.values()] if isinstance(error, dict) else []
    text = " ".join(str(r) for r in reasons if r).upper().replace(" ", "_")
    return "DUPLICATE" in text and "CLIENT_ORDER_ID" in text


#: Coinbase's order configurations Kripto places, and the order type each is.
CONFIGURATIONS = {
    "market_market_ioc": OrderType.MARKET,
    "limit_limit_gtd": OrderType.LIMIT_GTD,
    "sor_limit_ioc": OrderType.LIMIT_IOC,
}


def _decimal(value: object) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _post_only_crossed(reply: dict[str, Any]) -> bool:
    """A `success: false` create refused because the post-only order would cross."""
    error = reply.get("error_response") or {}
    reasons = [reply.get("failure_reason"), *error.values()] if isinstance(error, dict) else []
    return any("INVALID_LIMIT_PRICE_POST_ONLY" in str(r) for r in reasons if r)


def order_from_coinbase(data: dict[str, Any], *, allow_unfilled: bool = False) -> Order:
    """An Advanced Trade order (Get Order / List Orders) in the seed's order shape, with the
    limit order's fields (type, status, limit price, end time, base size).

    Raises OrderRejected for an order that ended (cancelled, expired, failed) with nothing
    filled, unless `allow_unfilled`: an IOC order that found no liquidity is not a trade of
    size 0, but an expired maker order is a step of a maker-first trade."""
    configurations: dict[str, Any] = data.get("order_configuration") or {}
    kind, config = "market_market_ioc", dict[str, Any]()
    for name in CONFIGURATIONS:
        if configurations.get(name):
            kind, config = name, dict(configurations[name])
            break
    filled_value = Decimal(str(data.get("filled_value") or "0"))
    filled_size = Decimal(str(data.get("filled_size") or "0"))
    status = str(data.get("status") or "").upper()
    if status in UNFILLED_STATUSES and filled_size == 0 and not allow_unfilled:
        raise _unfilled(data, status)
    # A final order with fills will not change, whatever the flag says; anything else
    # (OPEN, PENDING, QUEUED, …) keeps the flag, so the client keeps polling.
    settled = (status in FINAL_STATUSES and filled_size > 0) or bool(data.get("settled", False))
    if status in FINAL_STATUSES and kind != "market_market_ioc":
        settled = True  # a limit order's final state, filled or not, will not change
    quote_size = config.get("quote_size")
    limit_price = _decimal(config.get("limit_price"))
    base_size = _decimal(config.get("base_size"))
    end_time = config.get("end_time")
    if quote_size and kind == "market_market_ioc":
        funds = Decimal(str(quote_size))
    elif kind != "market_market_ioc" and base_size is not None and limit_price is not None:
        funds = base_size * limit_price
    elif quote_size:
        funds = Decimal(str(quote_size))
    else:
        funds = filled_value
    return Order(
        id=str(data["order_id"]),
        client_order_id=str(data.get("client_order_id") or ""),
        side=Side(str(data["side"]).lower()),
        product_id=str(data["product_id"]),
        funds=funds,
        settled=settled,
        created_at=_parse_time(str(data["created_time"])),
        fill_fees=Decimal(str(data.get("total_fees") or "0")),
        filled_size=filled_size,
        executed_value=filled_value,
        order_type=CONFIGURATIONS[kind],
        # A market order keeps the shape it had before limit orders (`settled` says it all).
        status=None if kind == "market_market_ioc" else _STATUSES.get(status),
        post_only=bool(config.get("post_only", False)),
        limit_price=limit_price,
        end_time=_parse_time(str(end_time)) if end_time else None,
        base_size=base_size,
    )


_STATUSES = {
    "PENDING": OrderStatus.PENDING,
    "QUEUED": OrderStatus.PENDING,
    "OPEN": OrderStatus.OPEN,
    "CANCEL_QUEUED": OrderStatus.OPEN,
    "FILLED": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELLED,
    "EXPIRED": OrderStatus.EXPIRED,
    "FAILED": OrderStatus.FAILED,
}


def fill_from_coinbase(data: dict[str, Any]) -> Fill:
    """One fill of List Fills (`GET /orders/historical/fills`)."""
    price = Decimal(str(data["price"]))
    size = Decimal(str(data["size"]))
    if data.get("size_in_quote"):
        size = size / price
    liquidity = str(data.get("liquidity_indicator") or "").upper()
    return Fill(
        trade_id=str(data.get("trade_id") or data.get("entry_id") or ""),
        order_id=str(data["order_id"]),
        product_id=str(data["product_id"]),
        side=Side(str(data["side"]).lower()),
        price=price,
        size=size,
        fee=Decimal(str(data.get("commission") or "0")),
        liquidity=Liquidity.MAKER if liquidity == "MAKER" else Liquidity.TAKER,
        time=_parse_time(str(data.get("trade_time") or data["sequence_timestamp"])),
    )


def rules_from_coinbase(data: dict[str, Any]) -> ProductRules:
    """A product's rules from Get Product (`GET /products/{id}`)."""
    quote_increment = _decimal(data.get("price_increment")) or _decimal(data.get("quote_increment"))
    max_size = _decimal(data.get("base_max_size"))
    return ProductRules(
        product_id=str(data["product_id"]),
        base_increment=_decimal(data.get("base_increment")) or SATOSHI,
        quote_increment=quote_increment or PENNY,
        base_min_size=_decimal(data.get("base_min_size")) or Decimal(0),
        base_max_size=max_size if max_size else None,
        quote_min_size=_decimal(data.get("quote_min_size")) or Decimal(0),
        trading_disabled=bool(data.get("trading_disabled", False)),
        post_only=bool(data.get("post_only", False)),
        limit_only=bool(data.get("limit_only", False)),
        cancel_only=bool(data.get("cancel_only", False)),
        status=str(data.get("status") or "online"),
    )


class CoinbaseExchange:
    """Live trading on Coinbase Advanced Trade. One httpx client; a new JWT per request."""

    name = "coinbase"

    def __init__(
        self,
        *,
        base_url: str,
        key_name: str,
        private_key_pem: str,
        timeout: float = 10.0,
        lookup_pages: int = 10,
        products: tuple[str, ...] | list[str] = (DEFAULT_PRODUCT,),
        limiter: Limiter | None = None,
    ) -> None:
        """`products`: the markets traded (KRIPTO_PRODUCTS); the wallet shows GBP, BTC and
        each product's base and quote. `limiter`: the worker's private-key limiter, shared by
        orders and wallet reads (an order goes first)."""
        self.limiter = limiter
        self._signer = CoinbaseSigner(key_name, private_key_pem)
        self.base_url = base_url.rstrip("/")
        url = httpx.URL(self.base_url)
        self._host = url.netloc.decode("ascii")
        self._prefix = url.path.rstrip("/") + API_PREFIX
        self.timeout = timeout
        self.lookup_pages = lookup_pages
        #: Each product's rules, read once (Get Product) and refreshed by every price read.
        self._rules: dict[str, ProductRules] = {}
        self.currencies = frozenset({"GBP", "BTC"} | {c for p in products for c in currencies(p)})
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"Accept": "application/json", "User-Agent": "kripto"},
        )

    @property
    def key_name(self) -> str:
        return self._signer.key_name

    def __repr__(self) -> str:
        return (
            f"CoinbaseExchange(base_url={self.base_url!r},"
            f" key_name={mask_key_name(self.key_name)!r})"
        )

    __str__ = __repr__

    async def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        missing: str | None = None,
        order_may_exist: bool = False,
    ) -> Any:
        """One signed request; the reply's JSON, or the error its status means.

        `missing`, if given, makes a 404 a RetryableError with that explanation, for paths that
        Coinbase itself gave us and that may just not be visible yet.

        `order_may_exist`: the request is about an order that may exist (its look-up, its create,
        its reads). Then no HTTP status is a verdict on the order: every error, 401/403 and
        other 4xx included, is ExchangeUnavailable, retried until Coinbase answers."""
        full_path = self._prefix + path
        if self.limiter is not None:
            await self.limiter.slot(ORDER if method == "POST" else READ)
        token = self._signer.token(method, self._host, full_path)
        what = f"Coinbase: {what}"
        try:
            reply = await self._client.request(
                method,
                full_path,
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.TimeoutException as exc:
            raise RetryableError(
                f"{what}: no reply within {self.timeout:g}s ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"{what}: the connection failed ({type(exc).__name__}); the request may or may"
                " not have reached Coinbase"
            ) from None
        status = reply.status_code
        if order_may_exist and status >= 400:
            raise self._unavailable(reply, what, missing)
        if status in (401, 403):
            raise BadCredentials(
                f"{what}: Coinbase refused API key {mask_key_name(self.key_name)!r}"
                f" (HTTP {status}):"
                f" check the key name, the private key and the key's permissions"
            )
        if status == 429:
            after, source = retry_after(reply.headers)
            if self.limiter is not None:
                self.limiter.hold(after)
            said = excerpt(reply, 80)
            raise RetryableError(
                f"{what}: rate limited (HTTP 429{': ' + said if said else ''})"
                f"{describe_wait(after, source)}",
                retry_after=after,
            )
        if status >= 500:
            after, _ = retry_after(reply.headers)  # a 503 may say when to come back
            raise RetryableError(
                f"{what}: Coinbase failed (HTTP {status} {reply.reason_phrase})", retry_after=after
            )
        if status == 404 and missing is not None:
            raise RetryableError(f"{what}: not found (HTTP 404): {missing}")
        if status == 404:
            raise InvalidInput(f"{what}: not found (HTTP 404): {_message(reply)}")
        if status >= 400:
            raise OrderRejected(f"{what}: refused (HTTP {status}): {_message(reply)}")
        try:
            return reply.json()
        except (ValueError, json.JSONDecodeError):
            raise RetryableError(f"{what}: the reply is not JSON: {excerpt(reply, 120)}") from None

    def _unavailable(
        self, reply: httpx.Response, what: str, missing: str | None
    ) -> ExchangeUnavailable:
        """An HTTP error while an order may exist: retried, with the server's wait if it named
        one; the message says why in words (a 401/403 names the key, masked)."""
        status = reply.status_code
        after, source = retry_after(reply.headers)
        if status in (401, 403):
            why = (
                f"Coinbase refused API key {mask_key_name(self.key_name)!r} (HTTP {status});"
                " check the key, its permissions and the clock"
            )
        elif status == 429:
            said = excerpt(reply, 80)
            said = f": {said}" if said else ""
            why = f"rate limited (HTTP 429{said}){describe_wait(after, source)}"
        elif status >= 500:
            why = f"Coinbase failed (HTTP {status} {reply.reason_phrase})"
        elif status == 404 and missing is not None:
            why = f"not found (HTTP 404): {missing}"
        else:
            why = f"HTTP {status}: {_message(reply)}"
        return ExchangeUnavailable(
            f"{what}: {why}; an order may exist, so this is retried until Coinbase answers",
            retry_after=after,
        )

    async def find_order(
        self, client_order_id: str, *, allow_unfilled: bool = False
    ) -> Order | None:
        cursor = ""
        for _ in range(self.lookup_pages):
            params: dict[str, Any] = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = await self._request(
                "GET",
                "/orders/historical/batch",
                f"looking up order {client_order_id}",
                params=params,
                order_may_exist=True,
            )
            for data in page.get("orders") or []:
                if data.get("client_order_id") == client_order_id:
                    return self._parse_order(
                        data, f"order {client_order_id}", allow_unfilled=allow_unfilled
                    )
            cursor = str(page.get("cursor") or "")
            if not page.get("has_next") or not cursor:
                break
        return None

    async def list_orders(self, start: datetime, end: datetime) -> list[Order]:
        """List Orders (`GET /orders/historical/batch` with `start_date` and `end_date`) for the
        period, and List Fills (`GET /orders/historical/fills` with `start_sequence_timestamp`
        and `end_sequence_timestamp`): an order created before the period and filled in it is
        read by its ID. Both are paged by `cursor`. Orders that ended with nothing filled are
        left out: they are no trade."""
        window = {"start_date": _rfc3339(start), "end_date": _rfc3339(end), "limit": 100}
        found: dict[str, Order] = {}
        async for data in self._pages("/orders/historical/batch", "orders", window):
            try:
                order = self._parse_order(data, "an order in the list")
            except OrderRejected:
                continue
            found[order.id] = order
        fills = {
            "start_sequence_timestamp": _rfc3339(start),
            "end_sequence_timestamp": _rfc3339(end),
            "limit": 100,
        }
        async for fill in self._pages("/orders/historical/fills", "fills", fills):
            order_id = str(fill.get("order_id") or "")
            if order_id and order_id not in found:
                try:
                    found[order_id] = await self.get_order(order_id)
                except OrderRejected:
                    continue
        return sorted(found.values(), key=lambda o: (o.created_at, o.client_order_id))

    async def _pages(
        self, path: str, items: str, params: dict[str, Any], pages: int = 1000
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a cursor-paged list (List Fills gives a cursor and no has_next)."""
        cursor = ""
        for _ in range(pages):
            query = dict(params) | ({"cursor": cursor} if cursor else {})
            page = await self._request("GET", path, f"listing {items}", params=query)
            for item in page.get(items) or []:
                if isinstance(item, dict):
                    yield item
            cursor = str(page.get("cursor") or "")
            if not cursor or page.get("has_next") is False:
                return

    async def get_order(self, order_id: str, *, allow_unfilled: bool = False) -> Order:
        """The order's current state. It is only asked for by an ID Coinbase gave us (the POST
        reply, the list look-up), so a 404 means not visible yet, and a retry may see it."""
        reply = await self._request(
            "GET",
            f"/orders/historical/{order_id}",
            f"order {order_id}",
            missing="the order is not visible yet (Coinbase gave us its ID, so it exists)",
            order_may_exist=True,
        )
        data = reply.get("order") if isinstance(reply, dict) else None
        if not isinstance(data, dict):
            raise RetryableError(f"Coinbase: order {order_id}: the reply has no order")
        return self._parse_order(data, f"order {order_id}", allow_unfilled=allow_unfilled)

    @staticmethod
    def _parse_order(data: dict[str, Any], what: str, *, allow_unfilled: bool = False) -> Order:
        try:
            return order_from_coinbase(data, allow_unfilled=allow_unfilled)
        except NonRetryableError:
            raise  # an order that ended unfilled is final, not an unreadable reply
        except (KeyError, ValueError, TypeError, InvalidOperation) as exc:
            raise RetryableError(
                f"Coinbase: {what}: cannot read the order ({type(exc).__name__})"
            ) from None

    async def _product(self, product_id: str) -> tuple[Decimal, ProductRules]:
        """The product's current price and its rules (which refresh the cache)."""
        product = await self._request(
            "GET", f"/products/{product_id}", f"price of {product_id}", order_may_exist=True
        )
        try:
            price = Decimal(str(product["price"]))
            rules = rules_from_coinbase(product)
        except (KeyError, TypeError, ValueError, InvalidOperation):
            raise RetryableError(f"Coinbase: no usable price for {product_id}") from None
        if not price.is_finite() or price <= 0:
            raise RetryableError(f"Coinbase: no usable price for {product_id} ({price})")
        self._rules[product_id] = rules
        return price, rules

    async def product_rules(self, product_id: str) -> ProductRules:
        cached = self._rules.get(product_id)
        if cached is None:
            _, cached = await self._product(product_id)
        return cached

    async def _available(self, currency: str) -> Decimal:
        return (await self.wallet()).balance(currency).available

    async def _sell_size(
        self, product_id: str, amount: Decimal | None, base_size: Decimal | None
    ) -> tuple[Decimal, str | None]:
        """The coins a market sell sells, and a note when that is not what was asked: a GBP
        amount is turned into coins at the price now; either way the size is capped at the
        available balance and rounded down to the base increment."""
        price, rules = await self._product(product_id)
        base, _ = currencies(product_id)
        held = await self._available(base)
        size, note = sell_size(
            amount=amount, base_size=base_size, price=price, held=held, rules=rules
        )
        why = rules.why_not(size=size, price=price, market=True)
        if why is not None:
            raise OrderRejected(f"Coinbase would refuse the order: {why}")
        return size, note

    async def place_market_order(
        self,
        *,
        client_order_id: str,
        product_id: str,
        side: Side,
        amount: Decimal | None = None,
        base_size: Decimal | None = None,
    ) -> Order:
        side = check_market(
            client_order_id=client_order_id,
            product_id=product_id,
            side=side,
            amount=amount,
            base_size=base_size,
        )
        base, quote = currencies(product_id)
        if amount is not None:
            amount = amount.quantize(PENNY, rounding=ROUND_DOWN)
            if amount <= 0:
                raise InvalidInput(f"the amount must be at least {fmt_money(PENNY, quote)}")

        existing = await self.find_order(client_order_id)
        if existing is not None:
            return existing

        note = None
        if side is Side.BUY:
            assert amount is not None
            config = {"quote_size": str(amount)}
            doing = f"buying {fmt_money(amount, quote)} of {product_id}"
        else:
            size, note = await self._sell_size(product_id, amount, base_size)
            config = {"base_size": str(size)}
            asked = fmt_money(amount, quote) if amount is not None else fmt_size(size, base)
            doing = f"selling {asked} of {product_id}"
        body = {
            "client_order_id": client_order_id,
            "product_id": product_id,
            "side": side.value.upper(),
            "order_configuration": {"market_market_ioc": config},
        }
        reply = await self._request(
            "POST", "/orders", f"{doing} ({client_order_id})", body=body, order_may_exist=True
        )
        if not reply.get("success"):
            if _duplicate(reply):
                return await self._existing(reply, client_order_id, doing)
            await self._refused(reply, doing, side, product_id)
        order_id = (reply.get("success_response") or {}).get("order_id") or reply.get("order_id")
        if not order_id:
            raise RetryableError(f"Coinbase: {doing}: the reply names no order")
        order = await self.get_order(str(order_id))
        return order.model_copy(update={"note": note}) if note else order

    async def _existing(self, reply: dict[str, Any], client_order_id: str, doing: str) -> Order:
        """A create refused because an order under the key exists already: that order is the
        trade's (an earlier attempt placed it), so it is looked up and carried on with."""
        order_id = str(reply.get("order_id") or "")
        if order_id:
            return await self.get_order(order_id)
        existing = await self.find_order(client_order_id)
        if existing is None:
            raise ExchangeUnavailable(
                f"Coinbase: {doing}: refused as a duplicate of {client_order_id}, which the"
                " look-up does not show yet; looking again"
            )
        return existing

    async def _refused(self, reply: dict[str, Any], doing: str, side: Side, product: str) -> None:
        error = reply.get("error_response") or {}
        code = str(error.get("error") or reply.get("failure_reason") or "UNKNOWN")
        detail = str(error.get("message") or error.get("error_details") or "").strip()
        reasons = {
            code,
            str(error.get("preview_failure_reason") or ""),
            str(error.get("new_order_failure_reason") or ""),
        }
        if any("INSUFFICIENT_FUND" in r for r in reasons):
            base, quote = currencies(product)
            currency = quote if side is Side.BUY else base
            held = ""
            try:
                available = (await self.wallet()).balance(currency).available
                shown = (
                    f"{fmt_money(available, currency)} {currency}"
                    if side is Side.BUY
                    else f"{available:f} {currency}"
                )
                held = f", wallet has {shown} available"
            except KriptoError:
                pass
            raise InsufficientFunds(
                f"insufficient funds: {doing} was refused by Coinbase (not enough {currency}){held}"
            )
        raise OrderRejected(
            f"Coinbase rejected the order: {doing}: {code}{': ' + detail if detail else ''}"
        )

    async def wallet(self) -> Wallet:
        found: dict[str, Balance] = {}
        cursor = ""
        for _ in range(100):
            params: dict[str, Any] = {"limit": 250}
            if cursor:
                params["cursor"] = cursor
            page = await self._request("GET", "/accounts", "reading the wallet", params=params)
            for account in page.get("accounts") or []:
                currency = str(account.get("currency") or "")
                if currency not in self.currencies or currency in found:
                    continue
                try:
                    available = Decimal(str(account["available_balance"]["value"]))
                    hold = Decimal(str((account.get("hold") or {}).get("value") or "0"))
                except (KeyError, TypeError, InvalidOperation):
                    raise RetryableError(
                        f"Coinbase: reading the wallet: cannot read the {currency} account"
                    ) from None
                found[currency] = Balance(
                    id=str(account.get("uuid") or ""),
                    balance=available + hold,
                    hold=hold,
                    available=available,
                )
            cursor = str(page.get("cursor") or "")
            if not page.get("has_next") or not cursor:
                break
        empty = Balance(id="", balance=Decimal(0), hold=Decimal(0), available=Decimal(0))
        return Wallet.of({c: found.get(c, empty) for c in sorted(self.currencies)})

    async def fee_rate(self) -> Decimal:
        """The account's taker fee rate (market orders are takers)."""
        summary = await self._request("GET", "/transaction_summary", "reading the fee tier")
        try:
            return Decimal(str(summary["fee_tier"]["taker_fee_rate"]))
        except (KeyError, TypeError, InvalidOperation):
            raise RetryableError("Coinbase: reading the fee tier: no taker fee rate") from None

    async def account_fees(self) -> FeeTier:
        """The account's own maker and taker rates (`transaction_summary`); kripto/fees.py
        weighs them against the configured tier, and the higher wins."""
        summary = await self._request("GET", "/transaction_summary", "reading the fee tier")
        try:
            tier = summary["fee_tier"]
            maker = Decimal(str(tier["maker_fee_rate"]))
            taker = Decimal(str(tier["taker_fee_rate"]))
        except (KeyError, TypeError, InvalidOperation):
            raise RetryableError(
                "Coinbase: reading the fee tier: no maker and taker rates"
            ) from None
        return FeeTier("account", maker, taker)

    # Maker-first (issue 23): the contract is in kripto.exchanges.base.Exchange.
    async def place_post_only(
        self,
        *,
        client_order_id: str,
        product_id: str,
        side: Side,
        base_size: Decimal,
        limit_price: Decimal,
        end_time: datetime,
    ) -> Order:
        side = check_limit(
            client_order_id=client_order_id,
            product_id=product_id,
            side=side,
            base_size=base_size,
            limit_price=limit_price,
        )
        existing = await self.find_order(client_order_id, allow_unfilled=True)
        if existing is not None:
            return existing
        rules = await self.product_rules(product_id)
        size, price, note = await self._limit_terms(rules, side, base_size, limit_price)
        base, quote = currencies(product_id)
        doing = (
            f"{'buying' if side is Side.BUY else 'selling'} {fmt_size(size, base)} at"
            f" {fmt_money(price, quote)} post-only"
        )
        config = {
            "base_size": str(size),
            "limit_price": str(price),
            "end_time": _rfc3339(end_time),
            "post_only": True,
        }
        order = await self._place_limit(
            client_order_id, product_id, side, "limit_limit_gtd", config, doing
        )
        return order.model_copy(update={"note": note}) if note else order

    async def place_ioc_limit(
        self,
        *,
        client_order_id: str,
        product_id: str,
        side: Side,
        limit_price: Decimal,
        base_size: Decimal | None = None,
        quote_size: Decimal | None = None,
    ) -> Order:
        side = check_ioc(
            client_order_id=client_order_id,
            product_id=product_id,
            side=side,
            limit_price=limit_price,
            base_size=base_size,
            quote_size=quote_size,
        )
        existing = await self.find_order(client_order_id, allow_unfilled=True)
        if existing is None:
            rules = await self.product_rules(product_id)
            base, quote = currencies(product_id)
            price = rules.round_price(limit_price, Side.SELL if side is Side.BUY else Side.BUY)
            note = None
            config: dict[str, Any]
            if quote_size is not None:
                spend = rules.round_quote(quote_size)
                config = {"quote_size": str(spend), "limit_price": str(price)}
                doing = f"buying {fmt_money(spend, quote)} of {product_id} up to {price}"
            else:
                assert base_size is not None
                size, _, note = await self._limit_terms(rules, side, base_size, price)
                config = {"base_size": str(size), "limit_price": str(price)}
                doing = (
                    f"{'buying' if side is Side.BUY else 'selling'} {fmt_size(size, base)}"
                    f" {'up to' if side is Side.BUY else 'down to'} {fmt_money(price, quote)}"
                )
            existing = await self._place_limit(
                client_order_id, product_id, side, "sor_limit_ioc", config, doing
            )
            if note:
                existing = existing.model_copy(update={"note": note})
        return await self._until_final(existing, "the IOC order")

    async def _limit_terms(
        self, rules: ProductRules, side: Side, base_size: Decimal, limit_price: Decimal
    ) -> tuple[Decimal, Decimal, str | None]:
        """A limit order's size (rounded down; a sell capped at the coins available), its
        price on the increment, and a note when the size was capped. Refuses, as Coinbase
        would, what the product's rules do not allow."""
        base, _ = currencies(rules.product_id)
        size = rules.round_size(base_size)
        price = rules.round_price(limit_price, side)
        note = None
        if side is Side.SELL:
            held = rules.round_size(await self._available(base))
            if size > held:
                note = (
                    f"sold the {fmt_size(held, base)} available, not the"
                    f" {fmt_size(base_size, base)} asked for"
                )
                size = held
        if size <= 0:
            if side is Side.SELL:
                raise InsufficientFunds(f"insufficient funds: no {base} available to sell")
            raise InvalidInput(
                f"{base_size} {base} is less than one increment of {rules.base_increment}"
            )
        why = rules.why_not(size=size, price=price)
        if why is not None:
            raise OrderRejected(f"Coinbase would refuse the order: {why}")
        return size, price, note

    async def _place_limit(
        self,
        client_order_id: str,
        product_id: str,
        side: Side,
        kind: str,
        config: dict[str, Any],
        doing: str,
    ) -> Order:
        body = {
            "client_order_id": client_order_id,
            "product_id": product_id,
            "side": side.value.upper(),
            "order_configuration": {kind: config},
        }
        reply = await self._request(
            "POST", "/orders", f"{doing} ({client_order_id})", body=body, order_may_exist=True
        )
        if not reply.get("success"):
            if _duplicate(reply):
                order = await self._existing_any(reply, client_order_id, doing)
                return order
            if _post_only_crossed(reply):
                raise PostOnlyWouldCross(
                    f"Coinbase refused the post-only order: {doing} would cross the book"
                    " (INVALID_LIMIT_PRICE_POST_ONLY); nothing was placed"
                )
            await self._refused(reply, doing, side, product_id)
        order_id = (reply.get("success_response") or {}).get("order_id") or reply.get("order_id")
        if not order_id:
            raise RetryableError(f"Coinbase: {doing}: the reply names no order")
        return await self.get_order(str(order_id), allow_unfilled=True)

    async def _existing_any(self, reply: dict[str, Any], client_order_id: str, doing: str) -> Order:
        order_id = str(reply.get("order_id") or "")
        if order_id:
            return await self.get_order(order_id, allow_unfilled=True)
        existing = await self.find_order(client_order_id, allow_unfilled=True)
        if existing is None:
            raise ExchangeUnavailable(
                f"Coinbase: {doing}: refused as a duplicate of {client_order_id}, which the"
                " look-up does not show yet; looking again"
            )
        return existing

    async def _until_final(self, order: Order, what: str, reads: int = 10) -> Order:
        """Read the order until the exchange has ended it (an IOC order, a cancel): a few
        quick reads, then a retryable error (the retry finds the order by its key or ID)."""
        delay = 0.05
        for _ in range(reads):
            if order.status is not None and order.status.final:
                return order
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            order = await self.get_order(order.id, allow_unfilled=True)
        if order.status is not None and order.status.final:
            return order
        raise ExchangeUnavailable(
            f"Coinbase: {what} {order.client_order_id} (order {order.id}) is still"
            f" {order.status or 'unknown'}; reading it again"
        )

    async def cancel_order(self, order_id: str) -> Order:
        order = await self.get_order(order_id, allow_unfilled=True)
        if order.status is not None and order.status.final:
            return order
        reply = await self._request(
            "POST",
            "/orders/batch_cancel",
            f"cancelling order {order_id}",
            body={"order_ids": [order_id]},
            order_may_exist=True,
        )
        results = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(results, list):
            raise ExchangeUnavailable(f"Coinbase: cancelling order {order_id}: no results")
        # Whether or not the cancel "succeeded" (a fill may have won the race), the order's own
        # state is the verdict.
        return await self._until_final(order, "the order being cancelled")

    async def fills(self, order_id: str) -> list[Fill]:
        found: list[Fill] = []
        async for data in self._pages(
            "/orders/historical/fills", "fills", {"order_ids": [order_id], "limit": 100}
        ):
            if str(data.get("order_id") or "") != order_id:
                continue
            try:
                found.append(fill_from_coinbase(data))
            except (KeyError, ValueError, TypeError, InvalidOperation):
                raise RetryableError(
                    f"Coinbase: fills of order {order_id}: cannot read a fill"
                ) from None
        unique = {f.trade_id: f for f in found}
        return sorted(unique.values(), key=lambda f: (f.time, f.trade_id))

    async def best_bid_ask(self, product_ids: Sequence[str]) -> dict[str, Quote]:
        wanted = list(dict.fromkeys(product_ids))
        if not wanted:
            return {}
        reply = await self._request(
            "GET",
            "/best_bid_ask",
            f"best bid and ask of {', '.join(wanted)}",
            params={"product_ids": wanted},
        )
        quotes: dict[str, Quote] = {}
        read_at = datetime.now(UTC)
        for book in (reply.get("pricebooks") if isinstance(reply, dict) else None) or []:
            try:
                product_id = str(book["product_id"])
                bids, asks = book.get("bids") or [], book.get("asks") or []
                if product_id not in wanted or not bids or not asks:
                    continue
                at = book.get("time")
                quotes[product_id] = Quote(
                    product_id=product_id,
                    bid=Decimal(str(bids[0]["price"])),
                    ask=Decimal(str(asks[0]["price"])),
                    bid_size=_decimal(bids[0].get("size")),
                    ask_size=_decimal(asks[0].get("size")),
                    time=_parse_time(str(at)) if at else read_at,
                )
            except (KeyError, TypeError, ValueError, InvalidOperation):
                continue  # an unreadable book is an unquoted product
        return quotes

    async def server_time(self) -> datetime:
        reply = await self._request("GET", "/time", "reading the server time")
        try:
            if reply.get("iso"):
                return _parse_time(str(reply["iso"])).astimezone(UTC)
            return datetime.fromtimestamp(int(str(reply["epochMillis"])) / 1000, UTC)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise RetryableError("Coinbase: reading the server time: no usable time") from None

    async def close(self) -> None:
        await self._client.aclose()

    # -- the account, as `kripto live check` reads it (no order is placed) -------------------

    async def key_permissions(self) -> dict[str, Any]:
        """Get API Key Permissions: can_view, can_trade, can_transfer, portfolio_uuid and
        portfolio_type."""
        reply = await self._request("GET", "/key_permissions", "reading the key's permissions")
        return dict(reply) if isinstance(reply, dict) else {}

    async def portfolios(self) -> list[dict[str, Any]]:
        """List Portfolios: name, uuid, type, deleted."""
        reply = await self._request("GET", "/portfolios", "listing the portfolios")
        items = reply.get("portfolios") if isinstance(reply, dict) else None
        return [p for p in items or [] if isinstance(p, dict)]

    async def transaction_summary(self) -> dict[str, Any]:
        """The transaction summary: `fee_tier` {pricing_tier, maker_fee_rate, taker_fee_rate}."""
        reply = await self._request("GET", "/transaction_summary", "reading the fee tier")
        return dict(reply) if isinstance(reply, dict) else {}

    async def product(self, product_id: str) -> dict[str, Any]:
        """Get Product: price, sizes, increments and the status flags (trading_disabled,
        cancel_only, post_only, limit_only, …)."""
        reply = await self._request("GET", f"/products/{product_id}", f"reading {product_id}")
        return dict(reply) if isinstance(reply, dict) else {}

    async def preview_market_order(
        self,
        product_id: str,
        side: Side,
        *,
        quote_size: Decimal | None = None,
        base_size: Decimal | None = None,
    ) -> dict[str, Any]:
        """Preview Order for a market order (nothing is placed): commission_total,
        order_total and `errs` (why Coinbase would refuse it)."""
        config = (
            {"quote_size": str(quote_size)}
            if quote_size is not None
            else {"base_size": str(base_size)}
        )
        body = {
            "product_id": product_id,
            "side": side.value.upper(),
            "order_configuration": {"market_market_ioc": config},
        }
        reply = await self._request(
            "POST", "/orders/preview", f"previewing a {side.value} of {product_id}", body=body
        )
        return dict(reply) if isinstance(reply, dict) else {}
