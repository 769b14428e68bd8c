"""The paper exchange: real arithmetic, balances, orders and fills in Postgres, as strict as
Coinbase (issue 23).

Prices: an order fills at the price *when it arrives*, read from a `PriceSource`: the worker
hands it the rate feed (`FeedPrices`: the simulated feed's price at this second, or Coinbase's
spot price now), never the decision's stored rate; without one (tests, tools) it reads the
newest stored rate (`StoredRates`). Around that price it keeps a book of one bid and one ask,
`spread` apart (KRIPTO_PAPER_SPREAD, split evenly, rounded outwards to the quote increment): a
market or IOC buy pays the ask, a sell gets the bid.

Orders:
- market orders (`place_market_order`) fill at once, as taker, sized in GBP or (a sell) in
  coins, a sell capped at the coins available (`Order.note` says so);
- post-only GTD orders (`place_post_only`) are refused when they would cross the book
  (INVALID_LIMIT_PRICE_POST_ONLY), else rest, holding their funds, until the price trades
  *through* their limit (strictly below a buy's, above a sell's). How far through decides how
  much fills: an order fills in full once the price is `fill_depth` (a fraction of the price,
  0.02% by default) beyond its limit, and in proportion before that, so a shallow dip fills
  part of it. A fill is at the order's limit price, as maker. The book is looked at whenever
  the exchange is asked anything; an order whose end time has passed expires then;
- IOC limit orders (`place_ioc_limit`) take the far touch if it is within their cap, as taker,
  and are cancelled for the rest;
- `cancel_order` first lets the price fill what it has traded through (the fill wins a race),
  then cancels the rest and releases its hold.

Fees are the tier's maker or taker rate by the fill's liquidity (`kripto.fees.FeeTier.rate`).
Sizes are rounded down to the product's base increment, prices to its quote increment.

Every change commits in one transaction that locks the accounts first; the order's
`client_order_id` is UNIQUE: a retried activity, or several concurrent calls under one key,
place one order and move the balances once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_UP, Decimal
from typing import Any, Protocol

import asyncpg

from kripto.db.orders import order_columns
from kripto.db.pool import Database
from kripto.db.rates import RateRepository
from kripto.errors import (
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidInput,
    OrderRejected,
    OrderUnfilled,
    PostOnlyWouldCross,
    RetryableError,
)
from kripto.exchanges.base import check_ioc, check_limit, check_market, sell_size
from kripto.execution import Fill, Liquidity, ProductRules, Quote
from kripto.feeds.base import RateFeed
from kripto.feeds.simulated import SimulatedFeed
from kripto.fees import FeeTier, flat
from kripto.fills import market_fill
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
from kripto.money import PENNY, SATOSHI, fmt_money, fmt_rate, fmt_size, round_down, trim

_ORDER_COLUMNS = order_columns("order_id")
_PAPER_COLUMNS = (
    _ORDER_COLUMNS + ", order_type, status, post_only, limit_price, end_time, base_size, note"
)
_INSERT = (
    f"INSERT INTO paper_orders ({_ORDER_COLUMNS}, price, order_type, status, post_only,"
    " limit_price, end_time, base_size, held, note)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $19, $10, $11, $12, $13, $14, $15, $16,"
    " $17, $18)"
    f" ON CONFLICT (client_order_id) DO NOTHING RETURNING {_PAPER_COLUMNS}"
)
_ENDED = {"cancelled": "was cancelled", "expired": "expired", "failed": "failed"}
#: How far (a fraction of the price) the market must trade through a resting order's limit to
#: fill it in full; a shallower move fills it in proportion.
DEFAULT_FILL_DEPTH = Decimal("0.0002")
#: The most seconds of the simulated feed one look at the book replays.
MAX_REPLAY_SECONDS = 3600


class PriceSource(Protocol):
    """The price of a product at a moment: what an order arriving then trades around."""

    async def price(self, product_id: str, at: datetime) -> Decimal | None: ...

    def path(self, product_id: str, start: datetime, end: datetime) -> list[Decimal] | None:
        """The prices after `start` up to `end`, if the source can replay them; else None."""
        ...

    async def close(self) -> None: ...


class StoredRates:
    """The newest rate Kripto has stored for the product (tools and tests without a feed)."""

    def __init__(self, db: Database) -> None:
        self._rates = RateRepository(db)

    async def price(self, product_id: str, at: datetime) -> Decimal | None:
        rate = await self._rates.latest(product_id)
        return None if rate is None else rate.rate

    def path(self, product_id: str, start: datetime, end: datetime) -> list[Decimal] | None:
        return None

    async def close(self) -> None:
        return None


class FeedPrices:
    """The rate feed's price now: the simulated feed's at this very second (it moves within a
    minute), or the live feed's spot price when asked."""

    def __init__(self, feed: RateFeed, *, owned: bool = True) -> None:
        self.feed = feed
        self.owned = owned

    async def price(self, product_id: str, at: datetime) -> Decimal | None:
        if isinstance(self.feed, SimulatedFeed):
            return self.feed.price_at(product_id, at)
        minute = at.replace(second=0, microsecond=0)
        return (await self.feed.rate(product_id, minute, now=at)).rate

    def path(self, product_id: str, start: datetime, end: datetime) -> list[Decimal] | None:
        """The simulated feed's price at each whole second after `start` up to `end` (at most
        an hour of them); the live feed cannot replay (None)."""
        if not isinstance(self.feed, SimulatedFeed):
            return None
        first = int(start.timestamp()) + 1
        last = min(int(end.timestamp()), first + MAX_REPLAY_SECONDS)
        return [
            self.feed.price_at(product_id, datetime.fromtimestamp(t, UTC))
            for t in range(first, last + 1)
        ]

    async def close(self) -> None:
        if self.owned:
            await self.feed.close()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _round_up(value: Decimal, increment: Decimal) -> Decimal:
    return (value / increment).to_integral_value(rounding=ROUND_UP) * increment


class PaperExchange:
    """Paper trading against the price when an order arrives; limit orders rest on a book of
    one bid and one ask around it."""

    name = "paper"

    def __init__(
        self,
        db: Database,
        *,
        fee_rate: Decimal,
        initial_gbp: Decimal,
        product_increment: Decimal = SATOSHI,
        products: tuple[str, ...] | list[str] = (DEFAULT_PRODUCT,),
        increments: dict[str, Decimal] | None = None,
        fees: FeeTier | None = None,
        spread: Decimal = Decimal(0),
        prices: PriceSource | None = None,
        clock: Callable[[], datetime] = _utcnow,
        fill_depth: Decimal = DEFAULT_FILL_DEPTH,
    ) -> None:
        """`initial_gbp` (KRIPTO_PAPER_GBP) funds each traded quote currency (GBP for BTC-GBP,
        EUR for ETH-EUR); base currencies start at 0. `increments`: a product's base increment
        where it is not `product_increment` (the satoshi; 1e-8 suits ETH too). `fees`: the
        maker and taker rates (KRIPTO_FEE_TIER); without it, `fee_rate` for both. `spread`:
        KRIPTO_PAPER_SPREAD. `prices`: where the price now comes from (the stored rates when
        not given). `clock`: the exchange's clock (orders expire by it)."""
        if not fee_rate.is_finite() or not Decimal(0) <= fee_rate < 1:
            raise ValueError("fee_rate must be a fraction between 0 and 1, for example 0.005")
        if not initial_gbp.is_finite() or initial_gbp < 0:
            raise ValueError("initial_gbp must be a non-negative amount")
        if not spread.is_finite() or not Decimal(0) <= spread < Decimal("0.1"):
            raise ValueError("spread must be a fraction from 0 to below 0.1, for example 0.0002")
        self.db = db
        self.fee_rate = fee_rate
        self.fees = fees if fees is not None else flat(fee_rate)
        self.initial_gbp = initial_gbp
        self.product_increment = product_increment
        self.products = tuple(products)
        self.increments = dict(increments or {})
        self.spread = spread
        self.prices: PriceSource = prices if prices is not None else StoredRates(db)
        self.clock = clock
        self.fill_depth = fill_depth
        #: The currencies the paper wallet shows and funds: GBP and BTC (the seed's wallet),
        #: and every traded product's base and quote.
        self.quotes = frozenset({"GBP"} | {currencies(p)[1] for p in self.products})
        self.currencies = sorted({"GBP", "BTC"} | {c for p in self.products for c in currencies(p)})

    def __repr__(self) -> str:
        return (
            f"PaperExchange(fees={self.fees.describe()!r}, spread={self.spread},"
            f" initial_gbp={self.initial_gbp})"
        )

    # -- prices, rules and the book -----------------------------------------------------

    def _rate(self, liquidity: Liquidity) -> Decimal:
        return self.fees.rate(liquidity.value)

    def _rules(self, product_id: str) -> ProductRules:
        increment = self.increments.get(product_id, self.product_increment)
        return ProductRules(
            product_id=product_id,
            base_increment=increment,
            quote_increment=PENNY,
            base_min_size=increment,
        )

    async def product_rules(self, product_id: str) -> ProductRules:
        return self._rules(product_id)

    async def server_time(self) -> datetime:
        return self.clock()

    async def _price(self, product_id: str) -> Decimal:
        price = await self.prices.price(product_id, self.clock())
        if price is None:
            raise RetryableError(f"no rate stored yet for {product_id}")
        return price

    def _book(self, product_id: str, price: Decimal) -> tuple[Decimal, Decimal]:
        """The bid and ask around `price`: `spread` apart, each on the quote increment."""
        increment = self._rules(product_id).quote_increment
        half = price * self.spread / 2
        return round_down(price - half, increment), _round_up(price + half, increment)

    async def best_bid_ask(self, product_ids: Sequence[str]) -> dict[str, Quote]:
        await self._match()
        quotes = {}
        now = self.clock()
        for product_id in dict.fromkeys(product_ids):
            price = await self.prices.price(product_id, now)
            if price is None:
                continue
            bid, ask = self._book(product_id, price)
            quotes[product_id] = Quote(product_id=product_id, bid=bid, ask=ask, time=now)
        return quotes

    # -- reading orders -----------------------------------------------------------------

    def _order(self, row: Any, *, allow_unfilled: bool = False) -> Order:
        status = str(row["status"])
        if status in _ENDED and row["filled_size"] == 0 and not allow_unfilled:
            raise OrderUnfilled(
                f"paper exchange: order {row['client_order_id']} (order {row['order_id']})"
                f" {_ENDED[status]} with nothing filled"
            )
        return Order(
            id=str(row["order_id"]),
            client_order_id=row["client_order_id"],
            side=Side(row["side"]),
            product_id=row["product_id"],
            funds=row["funds"],
            filled_size=row["filled_size"],
            executed_value=row["executed_value"],
            fill_fees=row["fill_fees"],
            settled=row["settled"],
            created_at=row["created_at"],
            order_type=OrderType(row["order_type"]),
            # A market order keeps the shape it had before limit orders (`settled` says it all).
            status=None if row["order_type"] == "market" else OrderStatus(status),
            post_only=row["post_only"],
            limit_price=row["limit_price"],
            end_time=row["end_time"],
            base_size=row["base_size"],
            note=row["note"],
        )

    async def _row_by_key(self, conn: Any, client_order_id: str, lock: bool = False) -> Any:
        return await conn.fetchrow(
            f"SELECT {_PAPER_COLUMNS} FROM paper_orders WHERE client_order_id = $1"
            + (" FOR UPDATE" if lock else ""),
            client_order_id,
        )

    async def find_order(
        self, client_order_id: str, *, allow_unfilled: bool = False
    ) -> Order | None:
        await self._match()
        row = await self._row_by_key(self.db.pool, client_order_id)
        return None if row is None else self._order(row, allow_unfilled=allow_unfilled)

    @staticmethod
    def _key(order_id: str) -> uuid.UUID:
        try:
            return uuid.UUID(order_id)
        except ValueError:
            raise InvalidInput(f"{order_id!r} is not a paper exchange order ID") from None

    async def get_order(self, order_id: str, *, allow_unfilled: bool = False) -> Order:
        key = self._key(order_id)
        await self._match()
        row = await self.db.pool.fetchrow(
            f"SELECT {_PAPER_COLUMNS} FROM paper_orders WHERE order_id = $1", key
        )
        if row is None:
            # Only asked for by an ID the exchange gave: not a verdict on the order, so the
            # trade waits (as for Coinbase) rather than failing a placed order.
            raise ExchangeUnavailable(f"the paper exchange has no order {order_id} (yet)")
        return self._order(row, allow_unfilled=allow_unfilled)

    async def list_orders(self, start: datetime, end: datetime) -> list[Order]:
        await self._match()
        rows = await self.db.pool.fetch(
            f"SELECT {_PAPER_COLUMNS} FROM paper_orders WHERE created_at BETWEEN $1 AND $2"
            " AND NOT (status IN ('cancelled', 'expired', 'failed') AND filled_size = 0)"
            " ORDER BY created_at, client_order_id",
            start,
            end,
        )
        return [self._order(r) for r in rows]

    async def fills(self, order_id: str) -> list[Fill]:
        key = self._key(order_id)
        await self._match()
        rows = await self.db.pool.fetch(
            "SELECT trade_id, order_id, product_id, side, price, size, fee, liquidity, time"
            " FROM paper_fills WHERE order_id = $1 ORDER BY time, trade_id",
            key,
        )
        return [
            Fill(
                trade_id=str(r["trade_id"]),
                order_id=str(r["order_id"]),
                product_id=r["product_id"],
                side=Side(r["side"]),
                price=r["price"],
                size=r["size"],
                fee=r["fee"],
                liquidity=Liquidity(r["liquidity"]),
                time=r["time"],
            )
            for r in rows
        ]

    # -- accounts -----------------------------------------------------------------------

    async def _ensure_accounts(self, conn: asyncpg.Connection, *currencies: str) -> None:
        """Create missing accounts: the initial amount in a quote currency, 0 of the rest."""
        for currency in currencies:
            await conn.execute(
                "INSERT INTO paper_accounts (currency, id, balance) VALUES ($1, $2, $3)"
                " ON CONFLICT (currency) DO NOTHING",
                currency,
                uuid.uuid4(),
                self.initial_gbp if currency in self.quotes else Decimal(0),
            )

    async def _lock(self, conn: asyncpg.Connection, *names: str) -> dict[str, Decimal]:
        """Lock the accounts (every change takes these locks first, so from here on the
        transaction sees any order a concurrent call has committed); their available amounts."""
        wanted = sorted(set(names))
        await self._ensure_accounts(conn, *wanted)
        rows = await conn.fetch(
            "SELECT currency, balance, hold FROM paper_accounts"
            " WHERE currency = ANY($1::text[]) ORDER BY currency FOR UPDATE",
            wanted,
        )
        return {r["currency"]: r["balance"] - r["hold"] for r in rows}

    @staticmethod
    async def _move(
        conn: asyncpg.Connection, currency: str, balance: Decimal, hold: Decimal = Decimal(0)
    ) -> None:
        await conn.execute(
            "UPDATE paper_accounts SET balance = balance + $2, hold = hold + $3,"
            " updated_at = now() WHERE currency = $1",
            currency,
            balance,
            hold,
        )

    async def wallet(self) -> Wallet:
        await self._match()
        async with self.db.pool.acquire() as conn:
            await self._ensure_accounts(conn, *self.currencies)
            rows = await conn.fetch(
                "SELECT currency, id, balance, hold FROM paper_accounts"
                " WHERE currency = ANY($1::text[])",
                self.currencies,
            )
        by = {
            str(r["currency"]): Balance(
                id=str(r["id"]),
                balance=r["balance"],
                hold=r["hold"],
                available=r["balance"] - r["hold"],
            )
            for r in rows
        }
        return Wallet.of(by)

    # -- placing ------------------------------------------------------------------------

    async def _insert(self, conn: asyncpg.Connection, **values: Any) -> Any:
        return await conn.fetchrow(
            _INSERT,
            values["order_id"],
            values["client_order_id"],
            values["side"].value,
            values["product_id"],
            values["funds"],
            values.get("filled_size", Decimal(0)),
            values.get("executed_value", Decimal(0)),
            values.get("fill_fees", Decimal(0)),
            values["settled"],
            values["price"],
            values["order_type"].value,
            values["status"].value,
            values.get("post_only", False),
            values.get("limit_price"),
            values.get("end_time"),
            values.get("base_size"),
            values.get("held", Decimal(0)),
            values.get("note"),
            self.clock(),  # created by the exchange's clock, as its fills and expiry
        )

    async def _taker_fill(
        self,
        conn: asyncpg.Connection,
        order_id: uuid.UUID,
        product_id: str,
        side: Side,
        *,
        price: Decimal,
        size: Decimal,
        value: Decimal,
        fee: Decimal,
    ) -> None:
        """An order filled at once (market or IOC): the coins and the money (value with its fee)
        change hands, and the fill is recorded as a taker's."""
        base, quote = currencies(product_id)
        if side is Side.BUY:
            await self._move(conn, quote, -(value + fee))
            await self._move(conn, base, size)
        else:
            await self._move(conn, quote, value - fee)
            await self._move(conn, base, -size)
        await self._record_fill(
            conn,
            order_id=order_id,
            product_id=product_id,
            side=side,
            price=price,
            size=size,
            fee=fee,
            liquidity=Liquidity.TAKER,
        )

    async def _record_fill(
        self,
        conn: asyncpg.Connection,
        *,
        order_id: uuid.UUID,
        product_id: str,
        side: Side,
        price: Decimal,
        size: Decimal,
        fee: Decimal,
        liquidity: Liquidity,
    ) -> None:
        await conn.execute(
            "INSERT INTO paper_fills"
            " (trade_id, order_id, product_id, side, price, size, fee, liquidity, time)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            uuid.uuid4(),
            order_id,
            product_id,
            side.value,
            price,
            size,
            fee,
            liquidity.value,
            self.clock(),
        )

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
        existing = await self.find_order(client_order_id)
        if existing is not None:
            return existing

        price = await self._price(product_id)
        bid, ask = self._book(product_id, price)
        rules = self._rules(product_id)
        taker = self._rate(Liquidity.TAKER)
        base, quote = currencies(product_id)
        async with self.db.pool.acquire() as conn, conn.transaction():
            available = await self._lock(conn, base, quote)
            already = await self._row_by_key(conn, client_order_id)
            if already is not None:
                return self._order(already)
            note = None
            if side is Side.BUY:
                assert amount is not None
                fill = market_fill(side, amount, ask, taker, rules.base_increment)
                if fill.filled_size <= 0:
                    raise InvalidInput(
                        f"{fmt_money(amount, quote)} is too small to buy any {product_id}"
                        f" at {fmt_rate(ask)}"
                    )
                if fill.executed_value + fill.fill_fees > available[quote]:
                    raise InsufficientFunds(
                        f"insufficient funds: buying {fmt_money(amount, quote)} of {base} needs"
                        f" {fmt_money(fill.executed_value + fill.fill_fees, quote)} {quote}"
                        f" available, wallet has {fmt_money(available[quote], quote)}"
                    )
                funds, size = fill.funds, fill.filled_size
                value, fee, fill_price = fill.executed_value, fill.fill_fees, ask
            else:
                size, note = sell_size(
                    amount=amount, base_size=base_size, price=bid, held=available[base], rules=rules
                )
                value = size * bid
                fee = trim(value * taker)
                funds = amount if amount is not None else value
                fill_price = bid
            order_id = uuid.uuid4()
            row = await self._insert(
                conn,
                order_id=order_id,
                client_order_id=client_order_id,
                side=side,
                product_id=product_id,
                funds=funds,
                filled_size=size,
                executed_value=value,
                fill_fees=fee,
                settled=True,
                price=fill_price,
                order_type=OrderType.MARKET,
                status=OrderStatus.FILLED,
                base_size=base_size,
                note=note,
            )
            if row is None:  # placed by a concurrent call: return that one, move nothing
                again = await self._row_by_key(conn, client_order_id)
                assert again is not None
                return self._order(again)
            await self._taker_fill(
                conn, order_id, product_id, side, price=fill_price, size=size, value=value, fee=fee
            )
            return self._order(row)

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
        rules = self._rules(product_id)
        base, quote = currencies(product_id)
        size = rules.round_size(base_size)
        limit = rules.round_price(limit_price, side)
        doing = (
            f"{'buying' if side is Side.BUY else 'selling'} {fmt_size(size, base)} at"
            f" {fmt_money(limit, quote)}"
        )
        if end_time <= self.clock():
            raise OrderRejected(
                f"the paper exchange refused the order: {doing}: INVALID_ARGUMENT: the end"
                f" time {end_time:%Y-%m-%dT%H:%M:%SZ} is not in the future"
            )
        bid, ask = self._book(product_id, await self._price(product_id))
        if (side is Side.BUY and limit >= ask) or (side is Side.SELL and limit <= bid):
            touch = (
                f"best ask {fmt_money(ask, quote)}"
                if side is Side.BUY
                else (f"best bid {fmt_money(bid, quote)}")
            )
            raise PostOnlyWouldCross(
                f"the paper exchange refused the post-only order: {doing} would cross the book"
                f" ({touch}): INVALID_LIMIT_PRICE_POST_ONLY; nothing was placed"
            )
        maker = self._rate(Liquidity.MAKER)
        async with self.db.pool.acquire() as conn, conn.transaction():
            available = await self._lock(conn, base, quote)
            already = await self._row_by_key(conn, client_order_id)
            if already is not None:
                return self._order(already, allow_unfilled=True)
            note = None
            if side is Side.SELL:
                held = rules.round_size(max(available[base], Decimal(0)))
                if size > held:
                    if held <= 0:
                        raise InsufficientFunds(
                            f"insufficient funds: {doing} needs {fmt_size(size, base)} available,"
                            f" wallet has {fmt_size(available[base], base)}: INSUFFICIENT_FUND"
                        )
                    note = (
                        f"sold the {fmt_size(held, base)} available, not the"
                        f" {fmt_size(base_size, base)} asked for"
                    )
                    size = held
                need = size
            else:
                need = size * limit * (1 + maker)
                if need > available[quote]:
                    raise InsufficientFunds(
                        f"insufficient funds: {doing} needs {fmt_money(need, quote)} {quote}"
                        f" available, wallet has {fmt_money(available[quote], quote)}:"
                        " INSUFFICIENT_FUND"
                    )
            why = rules.why_not(size=size, price=limit)
            if why is not None:
                raise OrderRejected(f"the paper exchange refused the order: {doing}: {why}")
            row = await self._insert(
                conn,
                order_id=uuid.uuid4(),
                client_order_id=client_order_id,
                side=side,
                product_id=product_id,
                funds=size * limit,
                settled=False,
                price=limit,
                order_type=OrderType.LIMIT_GTD,
                status=OrderStatus.OPEN,
                post_only=True,
                limit_price=limit,
                end_time=end_time,
                base_size=size,
                held=need,
                note=note,
            )
            if row is None:
                again = await self._row_by_key(conn, client_order_id)
                assert again is not None
                return self._order(again, allow_unfilled=True)
            await self._move(conn, quote if side is Side.BUY else base, Decimal(0), need)
            return self._order(row, allow_unfilled=True)

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
        if existing is not None:
            return existing
        rules = self._rules(product_id)
        base, quote = currencies(product_id)
        # The cap on the taker's side: a buy's rounded up, a sell's down, never tighter.
        limit = rules.round_price(limit_price, Side.SELL if side is Side.BUY else Side.BUY)
        bid, ask = self._book(product_id, await self._price(product_id))
        taker = self._rate(Liquidity.TAKER)
        async with self.db.pool.acquire() as conn, conn.transaction():
            available = await self._lock(conn, base, quote)
            already = await self._row_by_key(conn, client_order_id)
            if already is not None:
                return self._order(already, allow_unfilled=True)
            note = None
            touch = ask if side is Side.BUY else bid
            if quote_size is not None:
                size = rules.round_size(quote_size / (touch * (1 + taker)))
            else:
                assert base_size is not None
                size = rules.round_size(base_size)
            if side is Side.SELL:
                held = rules.round_size(max(available[base], Decimal(0)))
                if size > held:
                    if held <= 0:
                        raise InsufficientFunds(
                            f"insufficient funds: selling {fmt_size(size, base)} of {base} needs"
                            f" {fmt_size(size, base)} available, wallet has"
                            f" {fmt_size(available[base], base)}: INSUFFICIENT_FUND"
                        )
                    note = (
                        f"sold the {fmt_size(held, base)} available, not the"
                        f" {fmt_size(size, base)} asked for"
                    )
                    size = held
            if size <= 0:
                raise InvalidInput(f"the order is less than one increment of {product_id}")
            reachable = touch <= limit if side is Side.BUY else touch >= limit
            value = size * touch if reachable else Decimal(0)
            fee = trim(value * taker)
            if side is Side.BUY and reachable and value + fee > available[quote]:
                raise InsufficientFunds(
                    f"insufficient funds: buying {fmt_size(size, base)} up to"
                    f" {fmt_money(limit, quote)} needs {fmt_money(value + fee, quote)} {quote}"
                    f" available, wallet has {fmt_money(available[quote], quote)}:"
                    " INSUFFICIENT_FUND"
                )
            order_id = uuid.uuid4()
            row = await self._insert(
                conn,
                order_id=order_id,
                client_order_id=client_order_id,
                side=side,
                product_id=product_id,
                funds=quote_size if quote_size is not None else size * limit,
                filled_size=size if reachable else Decimal(0),
                executed_value=value,
                fill_fees=fee,
                settled=True,
                price=touch if reachable else limit,
                order_type=OrderType.LIMIT_IOC,
                status=OrderStatus.FILLED if reachable else OrderStatus.CANCELLED,
                limit_price=limit,
                base_size=size,
                note=note,
            )
            if row is None:
                again = await self._row_by_key(conn, client_order_id)
                assert again is not None
                return self._order(again, allow_unfilled=True)
            if reachable:
                await self._taker_fill(
                    conn, order_id, product_id, side, price=touch, size=size, value=value, fee=fee
                )
            return self._order(row, allow_unfilled=True)

    # -- the book moving: fills, expiry, cancels ----------------------------------------

    async def _match(self) -> None:
        """Look at the book now: resting orders the price has traded through fill (in part or
        in full) at their limit, as maker, and those whose end time has passed expire.

        A price source that can replay the past (the simulated feed) is read second by second
        from where the last look stopped to now (or the end time), so a move through the order
        between two looks fills it; any other source gives the price now, which counts only
        before the end time."""
        products = await self.db.pool.fetch(
            "SELECT DISTINCT product_id FROM paper_orders WHERE status = 'open'"
        )
        if not products:
            return
        now = self.clock()
        prices: dict[str, Decimal | None] = {}
        for r in products:
            prices[r["product_id"]] = await self.prices.price(r["product_id"], now)
        names = {c for p in prices for c in currencies(p)}
        async with self.db.pool.acquire() as conn, conn.transaction():
            await self._lock(conn, *names)
            rows = await conn.fetch(
                "SELECT order_id, client_order_id, side, product_id, filled_size, limit_price,"
                " end_time, base_size, held, status, created_at, matched_at FROM paper_orders"
                " WHERE status = 'open' ORDER BY created_at FOR UPDATE"
            )
            for row in rows:
                end = row["end_time"]
                until = now if end is None else min(now, end)
                since = row["matched_at"] or row["created_at"]
                path = self.prices.path(row["product_id"], since, until)
                if path is None:  # no replay: the price now, while the order may still fill
                    current = prices.get(row["product_id"])
                    live = end is None or now < end
                    path = [current] if current is not None and live else []
                if path:
                    side = Side(row["side"])
                    deepest = min(path) if side is Side.BUY else max(path)
                    row = await self._fill_through(conn, row, deepest) or row
                if row["status"] == "open" and end is not None and end <= now:
                    await self._end(conn, row, OrderStatus.EXPIRED)
                elif row["status"] == "open":
                    await conn.execute(
                        "UPDATE paper_orders SET matched_at = $2 WHERE order_id = $1",
                        row["order_id"],
                        max(until, since),
                    )

    async def _fill_through(
        self, conn: asyncpg.Connection, row: Any, price: Decimal
    ) -> dict[str, Any] | None:
        """Fill what `price` has traded through; the order's row after it (None: no fill)."""
        side, limit, size = Side(row["side"]), row["limit_price"], row["base_size"]
        through = limit - price if side is Side.BUY else price - limit
        if through <= 0:
            return None
        rules = self._rules(row["product_id"])
        depth = min(Decimal(1), through / (limit * self.fill_depth))
        target = size if depth >= 1 else rules.round_size(size * depth)
        part = target - row["filled_size"]
        if part <= 0:
            return None
        base, quote = currencies(row["product_id"])
        maker = self._rate(Liquidity.MAKER)
        value = part * limit
        fee = trim(value * maker)
        done = target >= size
        if side is Side.BUY:
            release = row["held"] if done else min(row["held"], value + fee)
            # The last part frees all it still holds (balance less hold is what is available).
            await self._move(conn, quote, -(value + fee), -release)
            await self._move(conn, base, part)
        else:
            release = row["held"] if done else min(row["held"], part)
            await self._move(conn, base, -part, -release)
            await self._move(conn, quote, value - fee)
        await conn.execute(
            "UPDATE paper_orders SET filled_size = filled_size + $2,"
            " executed_value = executed_value + $3, fill_fees = fill_fees + $4,"
            " held = held - $5, status = $6, settled = $7 WHERE order_id = $1",
            row["order_id"],
            part,
            value,
            fee,
            release,
            "filled" if done else "open",
            done,
        )
        await self._record_fill(
            conn,
            order_id=row["order_id"],
            product_id=row["product_id"],
            side=side,
            price=limit,
            size=part,
            fee=fee,
            liquidity=Liquidity.MAKER,
        )
        return dict(row) | {
            "filled_size": target,
            "held": row["held"] - release,
            "status": "filled" if done else "open",
        }

    async def _end(self, conn: asyncpg.Connection, row: Any, status: OrderStatus) -> None:
        """End a resting order: what it still holds is available again."""
        base, quote = currencies(row["product_id"])
        held = quote if Side(row["side"]) is Side.BUY else base
        await self._move(conn, held, Decimal(0), -row["held"])
        await conn.execute(
            "UPDATE paper_orders SET held = 0, status = $2, settled = true WHERE order_id = $1",
            row["order_id"],
            status.value,
        )

    async def cancel_order(self, order_id: str) -> Order:
        key = self._key(order_id)
        await self._match()  # a fill the price has already made wins the race
        async with self.db.pool.acquire() as conn, conn.transaction():
            found = await conn.fetchrow(
                "SELECT product_id FROM paper_orders WHERE order_id = $1", key
            )
            if found is None:
                raise ExchangeUnavailable(f"the paper exchange has no order {order_id} (yet)")
            await self._lock(conn, *currencies(found["product_id"]))
            row = await conn.fetchrow(
                "SELECT order_id, side, product_id, held, status FROM paper_orders"
                " WHERE order_id = $1 FOR UPDATE",
                key,
            )
            if row["status"] == "open":
                await self._end(conn, row, OrderStatus.CANCELLED)
            after = await conn.fetchrow(
                f"SELECT {_PAPER_COLUMNS} FROM paper_orders WHERE order_id = $1", key
            )
        return self._order(after, allow_unfilled=True)

    async def close(self) -> None:
        """The database belongs to the caller; a price source the exchange was given to own
        (the worker's feed) is closed."""
        await self.prices.close()
