"""The paper exchange: real arithmetic, balances and orders in Postgres.

An order fills at the latest stored rate for its product, with `kripto.fills.market_fill`, so a
paper trade costs what the seed's trade cost. The balance changes and the order row commit in
one transaction, and the order's `client_order_id` is UNIQUE: a retried activity, or several
concurrent calls under one key, place one order and move the balances once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from kripto.db.orders import order_columns, order_from_row
from kripto.db.pool import Database
from kripto.db.rates import RateRepository
from kripto.errors import ExchangeUnavailable, InsufficientFunds, InvalidInput, RetryableError
from kripto.exchanges.base import check_order
from kripto.execution import Fill, ProductRules, Quote
from kripto.fills import market_fill
from kripto.models import DEFAULT_PRODUCT, Balance, Order, Side, Wallet, currencies
from kripto.money import SATOSHI, fmt_money, fmt_rate, fmt_size

_ORDER_COLUMNS = order_columns("order_id")


def _order(row: Any) -> Order:
    return order_from_row(row, id_column="order_id")


class PaperExchange:
    """Paper trading against the rates Kripto stores. Orders settle at once."""

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
    ) -> None:
        """`initial_gbp` (KRIPTO_PAPER_GBP) funds each traded quote currency (GBP for BTC-GBP,
        EUR for ETH-EUR); base currencies start at 0. `increments`: a product's base increment
        where it is not `product_increment` (the satoshi; 1e-8 suits ETH too)."""
        if not fee_rate.is_finite() or not Decimal(0) <= fee_rate < 1:
            raise ValueError("fee_rate must be a fraction between 0 and 1, for example 0.005")
        if not initial_gbp.is_finite() or initial_gbp < 0:
            raise ValueError("initial_gbp must be a non-negative amount")
        self.db = db
        self.fee_rate = fee_rate
        self.initial_gbp = initial_gbp
        self.product_increment = product_increment
        self.products = tuple(products)
        self.increments = dict(increments or {})
        #: The currencies the paper wallet shows and funds: GBP and BTC (the seed's wallet),
        #: and every traded product's base and quote.
        self.quotes = frozenset({"GBP"} | {currencies(p)[1] for p in self.products})
        self.currencies = sorted({"GBP", "BTC"} | {c for p in self.products for c in currencies(p)})
        self._rates = RateRepository(db)

    def __repr__(self) -> str:
        return f"PaperExchange(fee_rate={self.fee_rate}, initial_gbp={self.initial_gbp})"

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

    async def find_order(
        self, client_order_id: str, *, allow_unfilled: bool = False
    ) -> Order | None:
        row = await self.db.pool.fetchrow(
            f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE client_order_id = $1",
            client_order_id,
        )
        return None if row is None else _order(row)

    async def get_order(self, order_id: str, *, allow_unfilled: bool = False) -> Order:
        try:
            key = uuid.UUID(order_id)
        except ValueError:
            raise InvalidInput(f"{order_id!r} is not a paper exchange order ID") from None
        row = await self.db.pool.fetchrow(
            f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE order_id = $1", key
        )
        if row is None:
            # Only asked for by an ID the exchange gave: not a verdict on the order, so the
            # trade waits (as for Coinbase) rather than failing a placed order.
            raise ExchangeUnavailable(f"the paper exchange has no order {order_id} (yet)")
        return _order(row)

    async def list_orders(self, start: datetime, end: datetime) -> list[Order]:
        rows = await self.db.pool.fetch(
            f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE created_at BETWEEN $1 AND $2"
            " ORDER BY created_at, client_order_id",
            start,
            end,
        )
        return [_order(r) for r in rows]

    async def place_market_order(
        self,
        *,
        client_order_id: str,
        product_id: str,
        side: Side,
        amount: Decimal | None = None,
        base_size: Decimal | None = None,
    ) -> Order:
        if base_size is not None or amount is None:
            raise NotImplementedError("a market order sized in coins")
        side = check_order(
            client_order_id=client_order_id, product_id=product_id, side=side, amount=amount
        )

        existing = await self.find_order(client_order_id)
        if existing is not None:
            return existing

        rate = await self._rates.latest(product_id)
        if rate is None:
            raise RetryableError(f"no rate stored yet for {product_id}")
        increment = self.increments.get(product_id, self.product_increment)
        fill = market_fill(side, amount, rate.rate, self.fee_rate, increment)
        base, quote = currencies(product_id)
        if fill.filled_size <= 0:
            raise InvalidInput(
                f"{fmt_money(amount, quote)} is too small to {side.value} any {product_id}"
                f" at {fmt_rate(rate.rate)}"
            )

        async with self.db.pool.acquire() as conn, conn.transaction():
            await self._ensure_accounts(conn, *sorted({base, quote}))
            rows = await conn.fetch(
                "SELECT currency, balance, hold FROM paper_accounts"
                " WHERE currency = ANY($1::text[]) ORDER BY currency FOR UPDATE",
                [base, quote],
            )
            # Every placement takes these locks first, so from here on this transaction sees
            # any order that a concurrent call under the same key has committed.
            already = await conn.fetchrow(
                f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE client_order_id = $1",
                client_order_id,
            )
            if already is not None:
                return _order(already)
            available = {r["currency"]: r["balance"] - r["hold"] for r in rows}
            if side is Side.BUY and fill.executed_value + fill.fill_fees > available[quote]:
                raise InsufficientFunds(
                    f"insufficient funds: buying {fmt_money(amount, quote)} of {base} needs"
                    f" {fmt_money(fill.executed_value + fill.fill_fees, quote)} {quote}"
                    f" available, wallet has {fmt_money(available[quote], quote)}"
                )
            if side is Side.SELL and fill.filled_size > available[base]:
                raise InsufficientFunds(
                    f"insufficient funds: selling {fmt_money(amount, quote)} of {base} needs"
                    f" {fmt_size(fill.filled_size, base)} available,"
                    f" wallet has {fmt_size(available[base], base)}"
                )
            row = await conn.fetchrow(
                f"INSERT INTO paper_orders ({_ORDER_COLUMNS}, price)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true, now(), $9)"
                " ON CONFLICT (client_order_id) DO NOTHING"
                f" RETURNING {_ORDER_COLUMNS}",
                uuid.uuid4(),
                client_order_id,
                side.value,
                product_id,
                fill.funds,
                fill.filled_size,
                fill.executed_value,
                fill.fill_fees,
                rate.rate,
            )
            if row is None:  # placed by a concurrent call: return that one, move nothing
                again = await conn.fetchrow(
                    f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE client_order_id = $1",
                    client_order_id,
                )
                assert again is not None
                return _order(again)
            await conn.execute(
                "UPDATE paper_accounts SET balance = balance + $2, updated_at = now()"
                " WHERE currency = $1",
                quote,
                fill.gbp_change,
            )
            await conn.execute(
                "UPDATE paper_accounts SET balance = balance + $2, updated_at = now()"
                " WHERE currency = $1",
                base,
                fill.btc_change,
            )
            return _order(row)

    async def wallet(self) -> Wallet:
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
        raise NotImplementedError

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
        raise NotImplementedError

    async def cancel_order(self, order_id: str) -> Order:
        raise NotImplementedError

    async def fills(self, order_id: str) -> list[Fill]:
        raise NotImplementedError

    async def best_bid_ask(self, product_ids: Sequence[str]) -> dict[str, Quote]:
        raise NotImplementedError

    async def product_rules(self, product_id: str) -> ProductRules:
        raise NotImplementedError

    async def server_time(self) -> datetime:
        raise NotImplementedError

    async def close(self) -> None:
        """The database belongs to the caller; nothing to close here."""
