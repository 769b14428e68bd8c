"""The exchange protocol that the trade activities call.

Every implementation is idempotent on `client_order_id` (the trade's workflow ID): placing an
order under a key that already has one returns that order and places nothing.

Amounts are GBP for buys and sells alike, as in the original system. Errors are
`kripto.errors` types: InsufficientFunds, OrderRejected, BadCredentials and InvalidInput are
final; RetryableError (429, 5xx, timeouts, dropped connections) may pass on a retry. Messages
say what happened in words a person understands, and never contain a secret.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from kripto.errors import InvalidInput
from kripto.models import Order, Side, Wallet, check_product


@runtime_checkable
class Exchange(Protocol):
    name: str

    async def find_order(self, client_order_id: str) -> Order | None:
        """The order placed under this key, or None if there is none."""
        ...

    async def place_market_order(
        self, *, client_order_id: str, product_id: str, side: Side, amount: Decimal
    ) -> Order:
        """Place a market order for `amount` GBP, or return the one already under this key."""
        ...

    async def get_order(self, order_id: str) -> Order:
        """The order's current state; `settled` may be False until it settles."""
        ...

    async def list_orders(self, start: datetime, end: datetime) -> list[Order]:
        """Every order created or filled in [start, end] that is, or may become, a trade (an
        order that ended with nothing filled is left out), each once, for the reconciler to
        match by client order ID."""
        ...

    async def wallet(self) -> Wallet:
        """GBP and BTC balances: balance = available + hold."""
        ...

    async def close(self) -> None: ...


def check_amount(amount: Decimal) -> None:
    """A trade amount must be a finite, positive number of pounds."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise InvalidInput(f"the amount must be a positive number of pounds, not {amount}")


def check_order(*, client_order_id: str, product_id: str, side: Side, amount: Decimal) -> Side:
    """What every exchange checks before it places anything; returns the side as a `Side`."""
    if not client_order_id:
        raise InvalidInput("a client order ID is required")
    check_amount(amount)
    try:
        check_product(product_id)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return Side(side)
