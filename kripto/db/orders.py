"""An order read back from a row: the trades table and the paper exchange keep the same fields,
under their own name for the order's ID."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kripto.models import Order

ORDER_FIELDS = (
    "client_order_id",
    "side",
    "product_id",
    "funds",
    "filled_size",
    "executed_value",
    "fill_fees",
    "settled",
    "created_at",
)


def order_from_row(row: Mapping[str, Any], *, id_column: str) -> Order:
    return Order.model_validate({"id": str(row[id_column])} | {f: row[f] for f in ORDER_FIELDS})


def order_columns(id_column: str) -> str:
    """The columns order_from_row reads, for a SELECT or an INSERT's column list."""
    return ", ".join((id_column, *ORDER_FIELDS))


def order_values(order: Order, *, client_order_id: str | None = None) -> tuple[Any, ...]:
    """An order's values in ORDER_FIELDS' order, for an INSERT after its ID column.
    `client_order_id`: the key to store when the order's own is missing."""
    return (
        client_order_id or order.client_order_id,
        order.side.value,
        order.product_id,
        order.funds,
        order.filled_size,
        order.executed_value,
        order.fill_fees,
        order.settled,
        order.created_at,
    )
