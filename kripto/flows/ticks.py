"""The exchange tick's flow (ExchangeTickWorkflow and its children StoreRatesWorkflow and
DecideMarketsWorkflow): each workflow's and activity's inputs and results."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kripto.models import (
    DEFAULT_PRODUCT,
    Money,
    Prices,
    ProductId,
    UtcDateTime,
    Wire,
)


class LateTick(Wire):
    """A tick that started more than a minute after its slot (`at` is the minute it stood for).
    `product_id`: the product of a per-product tick, or the exchange of an exchange tick."""

    product_id: str
    at: UtcDateTime
    late_seconds: float


class ReadRatesInput(Wire):
    product_id: ProductId = DEFAULT_PRODUCT
    days: int = Field(7, ge=1, le=31)
    end: UtcDateTime | None = None


class ExchangeTickInput(Wire):
    """What an exchange's schedule hands each tick: the exchange and every product it prices.
    The products travel in the input (a workflow cannot read settings), fixed per schedule
    update, so a replay sees the same list."""

    exchange: str = "coinbase"
    products: list[ProductId] = Field(default_factory=lambda: [DEFAULT_PRODUCT], min_length=1)


class FetchRatesInput(Wire):
    exchange: str = "coinbase"
    products: list[ProductId]
    at: UtcDateTime


class StoreRatesInput(Wire):
    prices: Prices


class StoreRatesResult(Wire):
    #: How many of the rates were new (a retried or replayed tick finds them stored).
    stored: int


class DecideMarketsInput(Wire):
    prices: Prices


class MarketTrade(Wire):
    """A decided buy or sell: what the decide child needs to start its TradeWorkflow."""

    decision_id: str
    product_id: ProductId
    action: Literal["buy", "sell"]
    amount: Money
    #: A whole-position sell's coins (see TradeRequest.base_size); None in older payloads.
    base_size: Money | None = None


class DecideMarketsResult(Wire):
    """Each product's action (buy, sell, hold; `none` when it could not be decided) and the
    trades to start; the reasons are in Postgres (`kripto decisions`)."""

    actions: dict[ProductId, str]
    trades: list[MarketTrade] = Field(default_factory=list)


class ExchangeTickResult(Wire):
    at: UtcDateTime
    markets: int
    stored: int
    actions: dict[ProductId, str] = Field(default_factory=dict)
    #: Why there are no actions, when the decisions failed.
    reason: str | None = None
