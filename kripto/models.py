"""Wire models: workflow inputs and outputs, and what the CLI prints as JSON.

Field names follow the seed in camelCase; money is Decimal and serialises as a string.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from kripto.money import fmt_money, fmt_size, plain

DEFAULT_PRODUCT = "BTC-GBP"
PRODUCT_PATTERN = re.compile(r"^[A-Z0-9]{2,10}-[A-Z0-9]{2,10}$")


def check_product(value: str) -> str:
    if not PRODUCT_PATTERN.match(value):
        raise ValueError(
            f"product {value!r} must look like BASE-QUOTE in capitals, for example BTC-GBP"
        )
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time must carry a timezone (UTC)")
    return value.astimezone(UTC)


def _iso_z(value: datetime) -> str:
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


ProductId = Annotated[str, AfterValidator(check_product)]
#: A UTC time, serialised as `2020-05-19T19:39:00Z`.
UtcDateTime = Annotated[
    datetime, AfterValidator(_utc), PlainSerializer(_iso_z, return_type=str, when_used="json")
]
#: Money and sizes: Decimal in Python, a plain decimal string in JSON (`"0.00000001"`, never
#: `"1E-8"`), never NaN or infinite.
Money = Annotated[
    Decimal,
    Field(allow_inf_nan=False),
    PlainSerializer(plain, return_type=str, when_used="json"),
]


class Wire(BaseModel):
    """Base for every model that crosses Temporal or reaches a user as JSON.

    Tolerant on purpose: a payload written by another build (a trade in flight across a deploy,
    a recorded history) may carry fields this build does not know, which are ignored, and may
    lack fields this build added, which must therefore have defaults. Only the user's own trade
    request is strict (`kripto.inputs.UserTradeRequest`)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
        # Builds overlap during a deploy: a payload written by a newer build (a new field) must
        # still decode on an older one. New fields get defaults, for the other direction.
        extra="ignore",
        # Validators are built on a model's first use, not at import: a command that never
        # touches a model (`kripto backtest --csv`) does not pay ~20 ms to build them all.
        defer_build=True,
    )

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json")


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


#: Where a stored rate came from: the live spot feed, the simulated feed, a backfill of
#: Coinbase's one-minute candles, or a CSV import.
RateSource = Literal["coinbase", "simulated", "coinbase-candles", "csv"]


class Rate(Wire):
    product_id: ProductId = "BTC-GBP"
    rate: Money = Field(gt=0)
    #: The minute the rate stands for (its start).
    date_time: UtcDateTime
    source: RateSource
    #: When the live feed read it, seconds into its minute; None for candles and CSV rows.
    fetched_at: UtcDateTime | None = None

    def seed_shape(self) -> dict[str, object]:
        """The seed's `{"rate", "dateTime"}` plus where the rate came from and, for a live
        rate, when it was read (`fetchedAt`)."""
        shape = self.model_dump(mode="json", include={"rate", "date_time", "source"})
        if self.fetched_at is not None:
            shape["fetchedAt"] = self.model_dump(mode="json", include={"fetched_at"})["fetchedAt"]
        return shape


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


class Prices(Wire):
    """Every product's rate for one minute from one feed: the compact form a tick's history
    carries (about 25 bytes a market, where a list of `Rate`s costs about 95)."""

    at: UtcDateTime
    source: RateSource
    prices: dict[ProductId, Money]
    #: When the feed read them (None in payloads from builds before it was kept).
    fetched_at: UtcDateTime | None = None

    def rates(self) -> list[Rate]:
        return [
            Rate(
                product_id=p,
                rate=r,
                date_time=self.at,
                source=self.source,
                fetched_at=self.fetched_at,
            )
            for p, r in self.prices.items()
        ]

    @classmethod
    def of(cls, rates: list[Rate], at: datetime, source: str) -> Prices:
        return cls(at=at, source=source, prices={r.product_id: r.rate for r in rates})


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


class Balance(Wire):
    id: str
    balance: Money
    hold: Money
    available: Money


class Wallet(Wire):
    """Balances keyed by lower-case currency. The seed's shape, `{"gbp": {…}, "btc": {…}}`, is
    kept as it is (both always present), and a second market's currencies stand beside them
    (`"eth": {…}`, `"eur": {…}`) as extra keys of the same Balance shape. A wallet recorded by a
    build that knew only GBP and BTC decodes unchanged (no extra keys)."""

    model_config = ConfigDict(extra="allow")
    #: The other currencies' balances (pydantic's typed extras: validated as Balance).
    __pydantic_extra__: dict[str, Balance] = Field(init=False)

    gbp: Balance
    btc: Balance

    @classmethod
    def of(cls, balances: dict[str, Balance]) -> Wallet:
        """A wallet from balances by currency code (any case); GBP or BTC missing from
        `balances` shows as an empty account, as the seed's shape always has both."""
        by = {currency.lower(): balance for currency, balance in balances.items()}
        by.setdefault("gbp", EMPTY_BALANCE)
        by.setdefault("btc", EMPTY_BALANCE)
        return cls.model_validate(by)

    def balances(self) -> dict[str, Balance]:
        """Every balance by upper-case currency code: GBP, BTC, then the others by code."""
        extra = self.__pydantic_extra__ or {}
        return {
            "GBP": self.gbp,
            "BTC": self.btc,
            **{k.upper(): extra[k] for k in sorted(extra)},
        }

    def balance(self, currency: str) -> Balance:
        """The balance of `currency` (any case); an empty one for a currency never held."""
        return self.balances().get(currency.upper(), EMPTY_BALANCE)


EMPTY_BALANCE = Balance(id="", balance=Decimal(0), hold=Decimal(0), available=Decimal(0))


def currencies(product_id: str) -> tuple[str, str]:
    """A product's (base, quote): `BTC-GBP` → ("BTC", "GBP")."""
    base, _, quote = product_id.partition("-")
    return base, quote


class OrderType(StrEnum):
    """How an order was placed: a market order (`market_market_ioc`), a post-only limit order
    that rests until its end time (`limit_limit_gtd` with `post_only`), or an immediate-or-cancel
    limit order with a price cap (`sor_limit_ioc`)."""

    MARKET = "market"
    LIMIT_GTD = "limit_gtd"
    LIMIT_IOC = "limit_ioc"


class OrderStatus(StrEnum):
    """Coinbase's order statuses. OPEN: resting (or partly filled) on the book; PENDING: sent,
    not yet on the book; FILLED, CANCELLED, EXPIRED (its end time passed) and FAILED are final.
    A CANCELLED or EXPIRED order may have filled in part (`filled_size` > 0)."""

    PENDING = "pending"
    OPEN = "open"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.EXPIRED,
            OrderStatus.FAILED,
        )


class Order(Wire):
    """An order in the seed's shape, plus the key it was placed under.

    The fields after `client_order_id` came with limit orders (issue 23); each has a default,
    so an order recorded by an older build (always a market order) still decodes. `status` is
    None in such a payload: read `settled` there. `funds` of a limit order is the quote value
    it may trade before fees (`base_size * limit_price`); of a market order, the GBP asked for
    (or, sold by `base_size`, the filled value)."""

    id: str
    side: Side
    product_id: ProductId
    funds: Money
    settled: bool
    created_at: UtcDateTime
    fill_fees: Money
    filled_size: Money
    executed_value: Money
    client_order_id: str
    order_type: OrderType = OrderType.MARKET
    status: OrderStatus | None = None
    post_only: bool = False
    #: A limit order's price (GBP per coin); an IOC order's cap.
    limit_price: Money | None = None
    #: When a GTD order expires on the exchange by itself.
    end_time: UtcDateTime | None = None
    #: The coins asked for (a limit order, or a market sell sized in coins); None for a market
    #: order sized in GBP.
    base_size: Money | None = None
    #: Set when the exchange changed what was asked, in words: a sell of more GBP than held
    #: sells the holdings ("sold the 0.01 BTC held: £700.00 at £59,988.00 is more than held").
    note: str | None = None

    @model_serializer(mode="wrap")
    def _seed_shape(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A market order serialises in the seed's shape exactly as before issue 23: the limit
        order's fields are left out while they hold their defaults (they decode back to them),
        so a trade's output, its books and a replayed history keep one shape."""
        data: dict[str, Any] = handler(self)
        for name, default in _LIMIT_DEFAULTS.items():
            for key in (name, to_camel(name)):
                if key in data and data[key] == default:
                    del data[key]
        return data

    @property
    def is_final(self) -> bool:
        """The order will not change: a final status, or (older payloads) settled."""
        return self.status.final if self.status is not None else self.settled

    @property
    def average_price(self) -> Decimal | None:
        return self.executed_value / self.filled_size if self.filled_size else None


#: Order's fields added for limit orders, with their defaults as they serialise (python or
#: JSON mode): left out of a dump while they hold them.
_LIMIT_DEFAULTS: dict[str, object] = {
    "order_type": OrderType.MARKET,
    "status": None,
    "post_only": False,
    "limit_price": None,
    "end_time": None,
    "base_size": None,
    "note": None,
}


class PlaceOrderResult(Order):
    """`place_order`'s result: the order, and whether an earlier run of the key had traded it
    already (so this run placed nothing). A subclass with a default, so a result recorded by a
    build that returned a plain Order still decodes (as `already_traded=False`)."""

    already_traded: bool = False

    def order(self) -> Order:
        """The order alone, in the seed's shape: what the trade returns."""
        return Order.model_validate(self.model_dump(exclude={"already_traded"}))


class TradeRequest(Wire):
    """The seed's trade payload. `amount` is in the product's quote currency (GBP for BTC-GBP)
    for buys and sells alike, in whole hundredths.

    Tolerant like every internal payload (it also travels inside activity inputs); a request from
    a person is checked by its strict form, `kripto.inputs.UserTradeRequest`."""

    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    trade_type: Side
    amount: Money = Field(gt=0, decimal_places=2)
    product_id: ProductId = DEFAULT_PRODUCT
    #: A sell sized in coins (the whole position: a strategy's exit, a protection, `kripto
    #: trade sell all`): the exchange sells this many coins, capped at the available balance
    #: and rounded down to the base increment; `amount` is then only the GBP estimate at the
    #: decision's price, for limits and display, never turned back into coins. None (and in
    #: payloads from older builds): the trade is sized by `amount`.
    base_size: Money | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _coins_for_sells(self) -> TradeRequest:
        if self.base_size is not None and self.trade_type is not Side.SELL:
            raise ValueError("baseSize (coins) is for a sell only; a buy is sized by amount")
        return self

    @property
    def summary(self) -> str:
        """What a person sees in the Web UI without opening the trade: `BUY £10.00 BTC-GBP`,
        `BUY €10.00 ETH-EUR` (the amount is in the product's quote currency); a sell sized in
        coins, `SELL 0.01000000 BTC BTC-GBP`."""
        base, quote = currencies(self.product_id)
        if self.base_size is not None:
            coins = fmt_size(self.base_size, base)
            return f"{self.trade_type.value.upper()} {coins} {self.product_id}"
        amount = fmt_money(self.amount, quote)
        return f"{self.trade_type.value.upper()} {amount} {self.product_id}"

    def same_trade(self, other: TradeRequest) -> bool:
        """The same side, amount and product (and coins, where both say): a key may be used
        again only for this. A request read back from the books, which do not keep the coins,
        still matches the one that placed it."""
        coins = (
            self.base_size is None or other.base_size is None or (self.base_size == other.base_size)
        )
        return coins and (self.trade_type, self.amount, self.product_id) == (
            other.trade_type,
            other.amount,
            other.product_id,
        )


class TradeStep(Wire):
    """An activity's input: the trade's key (its workflow ID) and what was asked."""

    trade_id: str
    request: TradeRequest


class PlacedOrder(Wire):
    """An order on the exchange, by the trade's key and the exchange's ID: later steps read the
    order itself from the exchange rather than carry it through history again.

    `order_id` may be missing: the first build passed only the key (`{"tradeId"}`) to the steps
    after placing, and a trade in flight from that build must still finish. The order is then
    found by its key."""

    trade_id: str
    order_id: str | None = None


class WalletRequest(Wire):
    """WalletWorkflow takes no options yet; a model keeps `--input '{}'` working."""


class BackfillInput(Wire):
    """A backfill of one product's one-minute closes over [start, end) (whole minutes).

    `next_start`, `pages_done` and `minutes_stored` carry progress across continue-as-new; a
    fresh backfill leaves them at their defaults."""

    product_id: ProductId = DEFAULT_PRODUCT
    start: UtcDateTime
    end: UtcDateTime
    next_start: UtcDateTime | None = None
    pages_done: int = Field(0, ge=0)
    minutes_stored: int = Field(0, ge=0)
    #: Pages one activity fetches before it reports back (progress shows per chunk).
    pages_per_chunk: int = Field(20, ge=1, le=10_000)
    #: Chunks one run does before it continues as new, so the history stays small.
    chunks_per_run: int = Field(100, ge=1, le=1_000)
    #: A chunk silent for this long is on a dead worker: retried, from its last heartbeat.
    heartbeat_seconds: float = Field(30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _span(self) -> BackfillInput:
        if self.end <= self.start:
            raise ValueError(f"end {_iso_z(self.end)} must be after start {_iso_z(self.start)}")
        return self


class BackfillChunk(Wire):
    """What one `backfill_chunk` activity is asked to do: pages from `start` towards `end`."""

    product_id: ProductId = DEFAULT_PRODUCT
    start: UtcDateTime
    end: UtcDateTime
    max_pages: int = Field(20, ge=1)


class BackfillChunkResult(Wire):
    next_start: UtcDateTime
    pages: int = 0
    #: Rows newly inserted. A minute that already had a rate (from the live feed, or from an
    #: attempt killed before its heartbeat reached the server) is not inserted again.
    stored: int = 0
    #: Minutes with a candle, each counted once: now stored, by this backfill or before it.
    candles: int = 0


class BackfillProgress(Wire):
    """What the `progress` query answers: enough for a progress bar."""

    product_id: ProductId = DEFAULT_PRODUCT
    start: UtcDateTime
    end: UtcDateTime
    next_start: UtcDateTime
    pages_done: int = 0
    minutes_stored: int = 0
    total_minutes: int = 0
    minutes_done: int = 0
    done: bool = False


class Rebase(Wire):
    """A person's new balance baseline (`kripto reconcile --rebase --reason TEXT`)."""

    reason: str = Field(min_length=1, max_length=500)
    #: Who asked: `user@host` of the command.
    by: str = Field(min_length=1, max_length=200)


class ReconcileRequest(Wire):
    """ReconcileWorkflow's input: from when to compare (default: KRIPTO_RECONCILE_LOOKBACK ago),
    and whether to take new balance baselines (a rebase)."""

    since: UtcDateTime | None = None
    rebase: Rebase | None = None


class ReconcileStep(Wire):
    """The reconcile activity's input: the period. Its end defaults to the activity's own clock
    (the exchange's orders up to the moment they are listed), not the workflow's."""

    since: UtcDateTime | None = None
    until: UtcDateTime | None = None
    rebase: Rebase | None = None


class ReconcileDifference(Wire):
    kind: str
    #: The trade key, or the currency of a balance difference.
    subject: str
    detail: str
    books: Money | None = None
    exchange: Money | None = None
    #: When this difference first appeared (it stays the same difference, whatever its figures
    #: do, until it is resolved): its notification's key.
    first_seen: UtcDateTime | None = None


class ReconcileBalance(Wire):
    currency: str
    #: The books' expected balance; None when it was not checked (`note` says why).
    books: Money | None = None
    exchange: Money
    note: str = ""


class ReconcileReport(Wire):
    """What one reconciliation compared and found."""

    since: UtcDateTime
    until: UtcDateTime
    exchange: str
    orders_on_exchange: int = 0
    trades_on_books: int = 0
    #: Keys of the exchange orders this run put on the books.
    recorded: list[str] = Field(default_factory=list)
    #: Keys of the trades the reconciler found (this run or before) still to be receipted.
    to_receipt: list[str] = Field(default_factory=list)
    receipts_sent: int = 0
    in_flight: list[str] = Field(default_factory=list)
    #: Keys of unsettled rows this run completed from their settled orders (whoever wrote them).
    completed: list[str] = Field(default_factory=list)
    #: Keys of unsettled rows this run closed: the exchange ended their orders unfilled.
    closed: list[str] = Field(default_factory=list)
    #: What this run did beyond comparing, one line each (completed, closed, rebased).
    notes: list[str] = Field(default_factory=list)
    differences: list[ReconcileDifference] = Field(default_factory=list)
    balances: list[ReconcileBalance] = Field(default_factory=list)

    @property
    def books_match(self) -> bool:
        return not self.differences


Action = Literal["buy", "sell", "hold"]


class Decision(Wire):
    """Small on purpose: it is a workflow result, so it lives in Temporal's history."""

    decision_id: str
    product_id: ProductId
    tick_time: UtcDateTime
    action: Action
    amount: Money = Field(ge=0)
    strategy: str
    params: dict[str, str]
    indicators: dict[str, str]
    reason: str
    #: The protection that caused it (`stop-loss`, `trailing stop`, `drawdown guard`,
    #: `stop-loss guard`), or None.
    protection: str | None = None
    #: A whole-position sell's coins (see TradeRequest.base_size); None for a buy, a sell of
    #: part of the position, and in older payloads.
    base_size: Money | None = None
