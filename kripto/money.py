"""Decimal helpers. Money never passes through float."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

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


def fmt_gbp(value: Decimal) -> str:
    return f"£{value.quantize(PENNY):,}"
