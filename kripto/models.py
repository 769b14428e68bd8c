"""Wire models: workflow inputs and outputs, and what the CLI prints as JSON.

Field names follow the seed in camelCase; money is Decimal and serialises as a string.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
)
from pydantic.alias_generators import to_camel

from kripto.money import fmt_money, plain

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


def iso_z(value: datetime) -> str:
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


ProductId = Annotated[str, AfterValidator(check_product)]
#: A UTC time, serialised as `2020-05-19T19:39:00Z`.
UtcDateTime = Annotated[
    datetime, AfterValidator(_utc), PlainSerializer(iso_z, return_type=str, when_used="json")
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


class Order(Wire):
    """An order in the seed's shape, plus the key it was placed under."""

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


class TradeRequest(Wire):
    """The seed's trade payload. `amount` is in the product's quote currency (GBP for BTC-GBP)
    for buys and sells alike, in whole hundredths.

    Tolerant like every internal payload (it also travels inside activity inputs); a request from
    a person is checked by its strict form, `kripto.inputs.UserTradeRequest`."""

    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    trade_type: Side
    amount: Money = Field(gt=0, decimal_places=2)
    product_id: ProductId = DEFAULT_PRODUCT

    @property
    def summary(self) -> str:
        """What a person sees in the Web UI without opening the trade: `BUY £10.00 BTC-GBP`,
        `BUY €10.00 ETH-EUR` (the amount is in the product's quote currency)."""
        amount = fmt_money(self.amount, currencies(self.product_id)[1])
        return f"{self.trade_type.value.upper()} {amount} {self.product_id}"

    def same_trade(self, other: TradeRequest) -> bool:
        """The same side, amount and product: a key may be used again only for this."""
        return (self.trade_type, self.amount, self.product_id) == (
            other.trade_type,
            other.amount,
            other.product_id,
        )


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
