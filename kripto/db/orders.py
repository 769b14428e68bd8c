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
