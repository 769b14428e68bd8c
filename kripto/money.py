"""Decimal helpers, and the one place money and times are formatted for people.

Money never passes through float. The CLI's tables, the receipts (kripto/mail/receipt.py and
its templates), error messages and the dashboard all format through the functions below, so a
pound is written the same way everywhere: `£1,234.57` (to the penny, half-even), `0.00125952 BTC`
(to the satoshi), a signed change as `-£10.00` / `+0.00125952 BTC`. JSON output does not use
them: it keeps every digit (`plain`)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

PENNY = Decimal("0.01")
SATOSHI = Decimal("0.00000001")


def round_down(value: Decimal, increment: Decimal) -> Decimal:
    """Round towards zero to a multiple of `increment` (exchanges fill whole increments)."""
    return (value / increment).to_integral_value(rounding=ROUND_DOWN) * increment


def trim(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (0.0497510 -> 0.049751)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def plain(value: Decimal) -> str:
    """A decimal as people and JSON readers expect it: `0.00000001`, never `1E-8`."""
    return format(value, "f")


def sign(value: Decimal) -> str:
    """`+`, `-` or nothing (zero): the sign a change is shown with."""
    return "+" if value > 0 else "-" if value < 0 else ""


def pence(value: Decimal) -> Decimal:
    """GBP to the penny, half-even (banker's rounding, so ties do not drift one way)."""
    return value.quantize(PENNY, rounding=ROUND_HALF_EVEN)


def satoshis(value: Decimal) -> Decimal:
    """BTC to the satoshi, half-even."""
    return value.quantize(SATOSHI, rounding=ROUND_HALF_EVEN)


def fmt_gbp(value: Decimal, signed: bool = False, symbol: bool = True) -> str:
    """`£1,234.57`; `signed` puts the change's sign in front (`-£10.00`, `+£9.95`);
    without `symbol` it is `1,234.57` (a table whose header says GBP)."""
    rounded = pence(value)
    body = f"{'£' if symbol else ''}{abs(rounded):,}"
    return f"{sign(rounded) if signed else '-' if rounded < 0 else ''}{body}"


def fmt_btc(value: Decimal, signed: bool = False, unit: bool = True) -> str:
    """`0.00125952 BTC`; `signed` gives `+0.00125952 BTC`; without `unit`, just the number."""
    rounded = satoshis(value)
    body = f"{abs(rounded):f}{' BTC' if unit else ''}"
    return f"{sign(rounded) if signed else '-' if rounded < 0 else ''}{body}"


#: Quote currencies written with a symbol in front (`€10.00`); every other currency is written
#: with its code after the number (`10.00 USDC`).
CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
#: Coins shown to 8 places (the satoshi for BTC; ETH is also shown to 1e-8, as the paper
#: exchange fills it).
COIN_PLACES = frozenset({"BTC", "ETH"})


def fmt_money(value: Decimal, currency: str, signed: bool = False) -> str:
    """Money in a quote currency, to the hundredth (half-even): `fmt_money(x, "GBP")` is
    `£10.00` (the same as `fmt_gbp`), `€10.00`, `$10.00`; a currency without a symbol keeps its
    code after the number, `10.00 USDC`. `signed` as in `fmt_gbp` (`-€10.00`)."""
    currency = currency.upper()
    symbol = CURRENCY_SYMBOLS.get(currency)
    rounded = pence(value)
    body = f"{symbol or ''}{abs(rounded):,}{'' if symbol else ' ' + currency}"
    return f"{sign(rounded) if signed else '-' if rounded < 0 else ''}{body}"


def fmt_size(value: Decimal, currency: str, signed: bool = False, unit: bool = True) -> str:
    """A size in a base currency: `0.00125952 BTC`, `0.00400000 ETH` (8 places, half-even),
    any other coin as stored (no places lost); `signed` gives `+0.004 ETH`."""
    currency = currency.upper()
    if currency in COIN_PLACES:
        value = satoshis(value)
    body = f"{abs(value):f}{' ' + currency if unit else ''}"
    return f"{sign(value) if signed else '-' if value < 0 else ''}{body}"


def fmt_amount(value: Decimal, currency: str, signed: bool = False) -> str:
    """An amount in `currency` as people read it: GBP (and other currencies with a symbol) to
    the penny, BTC and ETH to 1e-8, any other currency as stored (no places lost), each without
    its unit (tables name it)."""
    if currency in CURRENCY_SYMBOLS:
        rounded = pence(value)
        return f"{sign(rounded) if signed else '-' if rounded < 0 else ''}{abs(rounded):,}"
    if currency in COIN_PLACES:
        return fmt_size(value, currency, signed=signed, unit=False)
    return f"{sign(value) if signed and value > 0 else ''}{plain(value)}"


def fmt_rate(value: Decimal) -> str:
    """A price in GBP per BTC, to the penny with thousands separators: `79,000.01`."""
    return fmt_gbp(value, symbol=False)


def fmt_time(value: datetime) -> str:
    """A short UTC time for tables, `11-25 14:07` (the year and seconds are in --json)."""
    return f"{value:%m-%d %H:%M}"


def fmt_time_long(value: datetime) -> str:
    """A full UTC time for receipts and one-record views: `2020-05-19 19:39:00 UTC`."""
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 trade`, `2 trades`, `0 trades` (`nouns` for an irregular plural)."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"
