"""What the protections need from Postgres: the position's entry, its high since entry, the
drawdown guard's peak, and the recent stop-loss exits (kripto/protections.py decides)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from kripto.db.pool import Database
from kripto.db.trades import TradeRepository
from kripto.models import Side, currencies
from kripto.protections import STOP_LOSS, TRAILING_STOP, ProtectionState
from kripto.strategies.series import PriceHistory

#: A position is rebuilt from this far back at most.
POSITION_LOOKBACK = timedelta(days=365)


class ProtectionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(
        self, product_id: str, history: PriceHistory, now: datetime, window: timedelta
    ) -> ProtectionState:
        """The state for one market: its position (average cost of the coins held, from its
        recorded trades) and the highest stored rate since that position opened; the drawdown
        guard's peak for its quote currency; its stop-loss exits within `window`."""
        entry, opened = await self._position(product_id, now)
        peak: Decimal | None = None
        if entry is not None and opened is not None and history.seconds.size:
            since = history.prices[history.seconds >= opened.timestamp()]
            if since.size:
                peak = Decimal(repr(float(np.max(since)))).quantize(Decimal("0.01"))
        row = await self.db.pool.fetchrow(
            "SELECT equity_peak, halted FROM protection_state WHERE scope = $1",
            currencies(product_id)[1],
        )
        stops = await self.db.pool.fetch(
            "SELECT tick_time FROM decisions WHERE product_id = $1 AND protection = ANY($2)"
            " AND tick_time > $3",
            product_id,
            [STOP_LOSS, TRAILING_STOP],
            now - window,
        )
        return ProtectionState(
            entry_price=entry,
            peak_price=peak,
            equity_peak=None if row is None else row["equity_peak"],
            halted=False if row is None else bool(row["halted"]),
            stop_losses=[r["tick_time"] for r in stops],
        )

    async def save(self, product_id: str, state: ProtectionState) -> None:
        await self.db.pool.execute(
            "INSERT INTO protection_state (scope, equity_peak, halted) VALUES ($1, $2, $3)"
            " ON CONFLICT (scope) DO UPDATE SET equity_peak = $2, halted = $3,"
            " updated_at = now()",
            currencies(product_id)[1],
            state.equity_peak,
            state.halted,
        )

    async def resume(self, quote: str) -> bool:
        """Someone resumes buying: the drawdown guard lets go and measures from now on. True if
        it was holding buys."""
        row = await self.db.pool.fetchrow(
            "UPDATE protection_state p SET equity_peak = NULL, halted = false,"
            " updated_at = now() FROM (SELECT halted FROM protection_state WHERE scope = $1"
            " FOR UPDATE) old WHERE p.scope = $1 RETURNING old.halted",
            quote,
        )
        return bool(row and row["halted"])

    async def _position(
        self, product_id: str, now: datetime
    ) -> tuple[Decimal | None, datetime | None]:
        """The average cost per coin held (fees included), and when the position opened."""
        trades = await TradeRepository(self.db).since(
            now - POSITION_LOOKBACK, product_id=product_id
        )
        cost = coins = Decimal(0)
        opened: datetime | None = None
        for order in trades:
            if order.side is Side.BUY:
                if coins == 0:
                    opened = order.created_at
                cost += order.executed_value + order.fill_fees
                coins += order.filled_size
            elif coins > 0:
                sold = min(order.filled_size, coins)
                cost -= cost * sold / coins
                coins -= sold
        if coins <= 0:
            return None, None
        return cost / coins, opened
