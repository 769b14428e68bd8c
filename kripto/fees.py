"""Coinbase Advanced Trade's fee tiers: a maker and a taker rate, by 30-day volume.

One figure for the paper exchange, the backtester and the decider's fee guard: the taker rate,
because every order Kripto places is a market order (a taker). The maker rate is what a resting
limit order would pay; the strategy table reports both. Live on Coinbase the account's own rates
(`GET /transaction_summary`) are read at start-up and win when they are higher."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class FeeTier:
    name: str
    maker: Decimal
    taker: Decimal

    def describe(self) -> str:
        return f"{self.name}: {_pct(self.maker)} maker, {_pct(self.taker)} taker"

    def rate(self, side: str) -> Decimal:
        """`maker` or `taker`."""
        return self.maker if side == "maker" else self.taker


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


#: Coinbase Advanced's published tiers (30-day volume in USD), lowest first.
TIERS: dict[str, FeeTier] = {
    t.name: t
    for t in (
        FeeTier("intro1", Decimal("0.006"), Decimal("0.012")),  # $0 to $1K
        FeeTier("intro2", Decimal("0.004"), Decimal("0.008")),  # $1K to $10K
        FeeTier("advanced1", Decimal("0.0025"), Decimal("0.004")),  # $10K to $50K
        FeeTier("advanced2", Decimal("0.00125"), Decimal("0.0025")),  # $50K to $100K
        FeeTier("advanced3", Decimal("0.00075"), Decimal("0.0015")),  # $100K to $1M
        FeeTier("vip1", Decimal("0.0006"), Decimal("0.00125")),  # $1M to $15M
    )
}
DEFAULT_TIER = "intro1"
_PAIR = re.compile(r"^\s*(\d*\.?\d+)\s*/\s*(\d*\.?\d+)\s*$")


def fee_tier(text: str) -> FeeTier:
    """A tier by name (`intro1`), or `MAKER/TAKER` as fractions (`0.004/0.008`); a ValueError
    names the rule."""
    name = text.strip().lower()
    if name in TIERS:
        return TIERS[name]
    match = _PAIR.match(name)
    if match:
        maker, taker = Decimal(match.group(1)), Decimal(match.group(2))
        if maker < 1 and taker < 1:
            return FeeTier(name, maker, taker)
    raise ValueError(
        f"must be one of {', '.join(TIERS)} or MAKER/TAKER fractions such as 0.004/0.008,"
        f" not {text!r}"
    )


def flat(rate: Decimal) -> FeeTier:
    """One rate for both sides: KRIPTO_FEE_RATE, as the seed's 0.5%."""
    return FeeTier(f"flat {_pct(rate)}", rate, rate)


def round_trip_rate(tier: FeeTier, execution: str = "taker") -> Decimal:
    """A buy and a sell at `execution`'s one-side rate: the maker rate for `maker_first` (or
    `maker`), the taker rate for `taker`. (A placeholder until the fee's one place lands.)"""
    side = "maker" if execution in ("maker_first", "maker") else "taker"
    return 2 * tier.rate(side)
