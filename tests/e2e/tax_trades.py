"""A year of settled trades in the `trades` table for the tax report's CLI and browser tests:
a sale from the pool, a sale bought back within 30 days, a BTC-USD buy converted at the stored
USD-GBP rate, a sale at a loss, and an unsettled order that is not yet a trade."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kripto.db import Database

D = Decimal
TRADES = [
    # trade_id, side, product, filled_size, executed_value, fill_fees, created_at, settled
    ("t-open", "buy", "BTC-GBP", "0.5", "20000.00", "120.00", "2025-04-10T09:00:00", True),
    ("t-sell-1", "sell", "BTC-GBP", "0.1", "5000.00", "30.00", "2025-05-20T10:00:00", True),
    ("t-sell-2", "sell", "BTC-GBP", "0.1", "4000.00", "24.00", "2025-06-20T10:00:00", True),
    ("t-back", "buy", "BTC-GBP", "0.1", "3800.00", "22.80", "2025-07-01T10:00:00", True),
    ("t-usd", "buy", "BTC-USD", "0.05", "5000.00", "30.00", "2025-09-01T12:00:30", True),
    ("t-loss", "sell", "BTC-GBP", "0.05", "1500.00", "9.00", "2026-01-15T15:00:00", True),
    ("t-open-order", "sell", "BTC-GBP", "0.01", "0", "0", "2026-02-01T10:00:00", False),
]


async def store_tax_trades(db: Database) -> None:
    await db.pool.executemany(
        "INSERT INTO trades (trade_id, exchange_order_id, client_order_id, side, product_id,"
        " funds, filled_size, executed_value, fill_fees, settled, created_at)"
        " VALUES ($1, $1, $1, $2, $3, $5, $4, $5, $6, $8, $7)",
        [
            (
                ref,
                side,
                product,
                D(size),
                D(value),
                D(fee),
                datetime.fromisoformat(at).replace(tzinfo=UTC),
                settled,
            )
            for ref, side, product, size, value, fee, at, settled in TRADES
        ],
    )
    # Pounds per dollar for the minute of the BTC-USD trade.
    await db.pool.execute(
        "INSERT INTO rates (product_id, date_time, rate, source)"
        " VALUES ('USD-GBP', '2025-09-01T12:00:00Z', 0.75, 'csv')"
    )
