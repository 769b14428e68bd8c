"""The arithmetic of an order sized in quote currency (GBP), filled at one price and one fee
rate (kripto/fees.py decides the rate: maker or taker, from the tier and the account).

The paper exchange and the backtester both use this, so a backtest costs what a paper trade
costs. It reproduces the seed's trade: at a 0.5% fee, a £10.00 buy at 7900.01 gives funds
9.95024875, filledSize 0.00125952, executedValue 9.9502205952 and fillFees 0.049751102976.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kripto.fees import fee_of
from kripto.models import Side
from kripto.money import SATOSHI, round_down

DEFAULT_FEE_RATE = Decimal("0.005")


@dataclass(frozen=True, slots=True)
class Fill:
    side: Side
    funds: Decimal
    filled_size: Decimal
    executed_value: Decimal
    fill_fees: Decimal

    @property
    def gbp_change(self) -> Decimal:
        return gbp_change(self.side, self.executed_value, self.fill_fees)

    @property
    def btc_change(self) -> Decimal:
        return btc_change(self.side, self.filled_size)


def gbp_change(side: Side, executed_value: Decimal, fill_fees: Decimal) -> Decimal:
    """What the quote balance moves by: minus value and fee for a buy, plus value less fee for a
    sell (the original receipt added the fee to a sell's proceeds; it must not). The paper
    wallet, the backtester and the receipt all take the sign from here."""
    if side is Side.BUY:
        return -(executed_value + fill_fees)
    return executed_value - fill_fees


def btc_change(side: Side, filled_size: Decimal) -> Decimal:
    """What the base balance moves by: plus the size bought, minus the size sold."""
    return filled_size if side is Side.BUY else -filled_size


def market_fill(
    side: Side,
    amount: Decimal,
    price: Decimal,
    fee_rate: Decimal = DEFAULT_FEE_RATE,
    base_increment: Decimal = SATOSHI,
) -> Fill:
    """Fill an order for `amount` GBP at `price` and `fee_rate` (a market order at the
    taker rate; a resting limit order at its limit and the maker rate).

    A buy reserves the fee out of the amount (funds = amount / (1 + fee)), so the total spent
    never exceeds the amount. A sell sells the BTC worth `amount` and pays the fee out of the
    proceeds. Sizes round down to the product's increment.
    """
    if amount <= 0 or price <= 0:
        raise ValueError("amount and price must be positive")
    funds = round_down(amount / (1 + fee_rate), SATOSHI) if side is Side.BUY else amount
    filled_size = round_down(funds / price, base_increment)
    executed_value = filled_size * price
    fill_fees = fee_of(executed_value, fee_rate)
    return Fill(side, funds, filled_size, executed_value, fill_fees)
