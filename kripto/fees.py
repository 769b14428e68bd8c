"""The fee: what a trade pays, and the one place it is decided.

Three things decide the fee of a fill, and nothing else:

1. **The tier.** `KRIPTO_FEE_TIER` names one of Coinbase Advanced's published tiers below
   (`intro1` by default: 0.60% maker, 1.20% taker) or gives `MAKER/TAKER` fractions;
   `KRIPTO_FEE_RATE` sets one flat rate for both instead (the seed's 0.5%).
2. **The live account rate.** On Coinbase, the account's own maker and taker rates
   (`GET /transaction_summary`) are read at worker start-up (kripto/runtime/worker.py's
   `decision_fee_rate`); where one is higher than the tier's, it wins (`with_account`), so
   nothing weighs a cheaper trade than the real one.
3. **The liquidity, from the execution.** A fill that rested on the book pays the maker rate; one
   that took from it pays the taker rate (`fee_rate`). `KRIPTO_EXECUTION=maker_first` (the
   default) plans to pay the maker rate: a post-only limit order at the touch; whatever the
   maker window leaves unfilled pays the taker rate. `taker` pays the taker rate throughout.

What a decision weighs: each side at `side_rate` (the maker rate only when no part can fall
back to taker), a round trip at `round_trip_rate`. What a fill pays: `fee_rate` for its
liquidity, and `fee_of` its value at that rate, exactly (money stays Decimal).

Who asks: the decider's fee guard and min-edge gate (`round_trip_rate`; the worker picks the
rate with `decision_rate`), the risk guard (kripto/risk.py), the backtester
(kripto/backtest/engine.py, per fill), the paper exchange (`FeeTier.rate` by a fill's
liquidity), the fill arithmetic (kripto/fills.py, `fee_of`), and the dashboard's quote and
its fees-saved figure (`planned_rate`, `saved_against_taker`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from kripto.execution import Execution, Liquidity, MakerFallback
from kripto.money import trim

__all__ = [
    "DEFAULT_TIER",
    "TIERS",
    "Execution",
    "FeeTier",
    "Liquidity",
    "MakerFallback",
    "decision_rate",
    "fee_of",
    "fee_rate",
    "fee_tier",
    "flat",
    "planned_rate",
    "round_trip_rate",
    "saved_against_taker",
    "side_rate",
    "with_account",
]


@dataclass(frozen=True)
class FeeTier:
    """A maker and a taker rate, as fractions (0.006 is 0.6%)."""

    name: str
    maker: Decimal
    taker: Decimal

    def describe(self) -> str:
        return f"{self.name}: {_pct(self.maker)} maker, {_pct(self.taker)} taker"

    def rate(self, side: Liquidity | str) -> Decimal:
        """`maker` or `taker`: what a fill of that liquidity pays (`fee_rate`)."""
        return fee_rate(self, side)


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


def with_account(tier: FeeTier, account: FeeTier | None) -> FeeTier:
    """The tier with the account's own rates where they are higher (live on Coinbase): the fee
    is never weighed cheaper than the exchange will charge. `account` None (not read, or the
    paper exchange): the tier as it is."""
    if account is None:
        return tier
    maker, taker = max(tier.maker, account.maker), max(tier.taker, account.taker)
    if (maker, taker) == (tier.maker, tier.taker):
        return tier
    return FeeTier(f"{tier.name}, raised to the account's", maker, taker)


def fee_rate(tier: FeeTier, liquidity: Liquidity | str) -> Decimal:
    """What one fill pays: the maker rate for a fill that rested on the book, else the taker
    rate."""
    return tier.maker if Liquidity(liquidity) is Liquidity.MAKER else tier.taker


def planned_rate(tier: FeeTier, execution: Execution | str) -> Decimal:
    """The rate a trade plans to pay under `execution`: maker-first plans a maker fill (its
    remainder after the maker window pays the taker rate); taker pays the taker rate."""
    if Execution(execution) is Execution.MAKER_FIRST:
        return tier.maker
    return tier.taker


def side_rate(
    tier: FeeTier,
    execution: Execution | str,
    fallback: MakerFallback | str = MakerFallback.TAKER,
) -> Decimal:
    """The most one side of a trade can pay: the figure the fee guard weighs. Maker-first whose
    unfilled remainder is dropped (KRIPTO_MAKER_FALLBACK=skip) only ever fills at maker; with a
    taker fallback any part may pay the taker rate, so the guard weighs that (never a cheaper
    trade than the real one); taker pays the taker rate."""
    if Execution(execution) is Execution.MAKER_FIRST and MakerFallback(fallback) is (
        MakerFallback.SKIP
    ):
        return tier.maker
    return tier.taker


def round_trip_rate(
    fees: FeeTier | Decimal,
    execution: Execution | str = Execution.MAKER_FIRST,
    fallback: MakerFallback | str = MakerFallback.TAKER,
) -> Decimal:
    """The cost of a buy and a sell under `execution`, as a fraction of the value traded: what
    a signal's expected move must clear (the fee guard, the min-edge gate); twice `side_rate`.
    At intro1: 2.4% (taker, or maker-first with a taker fallback), 1.2% (maker-first whose
    remainder is skipped). `fees` may instead be the per-side rate already chosen by
    `side_rate` (the decider is handed that one figure at start-up)."""
    per_side = fees if isinstance(fees, Decimal) else side_rate(fees, execution, fallback)
    return 2 * per_side


def decision_rate(
    tier: FeeTier,
    account: FeeTier | None,
    execution: Execution | str,
    fallback: MakerFallback | str = MakerFallback.TAKER,
) -> Decimal:
    """The per-side rate the live decider weighs: `side_rate` of the tier raised to the
    account's rates where they are higher (read at worker start-up)."""
    return side_rate(with_account(tier, account), execution, fallback)


def fee_of(value: Decimal, rate: Decimal) -> Decimal:
    """The fee of a fill worth `value` (quote currency) at `rate`, exactly (trailing zeros
    trimmed): £9.9502205952 at 0.5% is £0.049751102976."""
    return trim(value * rate)


def saved_against_taker(value: Decimal, fees_paid: Decimal, tier: FeeTier) -> Decimal:
    """What fills worth `value` in all, which paid `fees_paid`, saved against paying the taker
    rate on all of it (negative if they paid more)."""
    return fee_of(value, tier.taker) - fees_paid
