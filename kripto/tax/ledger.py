"""The tax engine's input from the `trades` table: every settled fill, in sterling.

A fill quoted in another currency (BTC-USD, say) is converted at the rate stored for the minute
it was made: `USD-GBP` (pounds per dollar) or else `GBP-USD` (dollars per pound), and each such
conversion is listed, so the report can say which figures were converted and at what rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kripto.db.ledger import LedgerQueries
from kripto.db.pool import Database
from kripto.errors import InvalidInput
from kripto.money import PENNY
from kripto.tax.engine import Side, Trade

GBP = "GBP"


@dataclass(frozen=True)
class Conversion:
    """A trade quoted in another currency, and the stored rate it was converted at."""

    ref: str
    product_id: str
    at: datetime
    quote: str
    value: Decimal
    fee: Decimal
    rate_product: str
    rate: Decimal
    rate_time: datetime
    gbp_value: Decimal
    gbp_fee: Decimal

    @property
    def line(self) -> str:
        return (
            f"{self.ref} ({self.product_id}, {self.at:%Y-%m-%d %H:%M} UTC): {self.value}"
            f" {self.quote} and fee {self.fee} {self.quote} converted at {self.rate_product}"
            f" {self.rate} (stored for {self.rate_time:%Y-%m-%d %H:%M} UTC) to"
            f" £{self.gbp_value.quantize(PENNY):,} and £{self.gbp_fee.quantize(PENNY):,}"
        )


@dataclass(frozen=True)
class Ledger:
    trades: tuple[Trade, ...]
    conversions: tuple[Conversion, ...]


async def load_ledger(db: Database) -> Ledger:
    """Every settled trade with a fill, oldest first, in GBP."""
    rows = await LedgerQueries(db).settled_trades()
    trades: list[Trade] = []
    conversions: list[Conversion] = []
    for row in rows:
        base, _, quote = row["product_id"].partition("-")
        value, fee = row["executed_value"], row["fill_fees"]
        if quote != GBP:
            conversion = await _convert(db, row, quote)
            conversions.append(conversion)
            value, fee = conversion.gbp_value, conversion.gbp_fee
        trades.append(
            Trade(
                row["trade_id"],
                base,
                Side(row["side"]),
                row["created_at"],
                row["filled_size"],
                value,
                fee,
            )
        )
    return Ledger(tuple(trades), tuple(conversions))


async def _convert(db: Database, row: object, quote: str) -> Conversion:
    r = dict(row)  # type: ignore[call-overload]
    for product, invert in ((f"{quote}-{GBP}", False), (f"{GBP}-{quote}", True)):
        found = await LedgerQueries(db).rate_in_minute(product, r["created_at"])
        if found is None:
            continue
        rate: Decimal = found["rate"]

        def gbp(amount: Decimal, rate: Decimal = rate, invert: bool = invert) -> Decimal:
            return amount / rate if invert else amount * rate

        return Conversion(
            r["trade_id"],
            r["product_id"],
            r["created_at"],
            quote,
            r["executed_value"],
            r["fill_fees"],
            product,
            rate,
            found["date_time"],
            gbp(r["executed_value"]),
            gbp(r["fill_fees"]),
        )
    raise InvalidInput(
        f"trade {r['trade_id']} ({r['product_id']}) is quoted in {quote}: no {quote}-{GBP} or"
        f" {GBP}-{quote} rate is stored for {r['created_at']:%Y-%m-%d %H:%M} UTC, the minute"
        " it was made, so it cannot be put in pounds"
    )
