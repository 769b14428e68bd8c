"""The decisions table: one row per tick, keyed by the decision's ID."""

from __future__ import annotations

import json
from typing import Any

from kripto.db.pool import Database
from kripto.decisions import Decision

_COLUMNS = (
    "decision_id, product_id, tick_time, action, amount, strategy, params, indicators, reason"
)


def _decision(row: Any) -> Decision:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["indicators"] = json.loads(data["indicators"])
    return Decision.model_validate(data)


class DecisionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, decision: Decision) -> bool:
        """Store a decision once: False when its ID (derived from the tick) is already there."""
        status = await self.db.pool.execute(
            f"INSERT INTO decisions ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (decision_id) DO NOTHING",
            decision.decision_id,
            decision.product_id,
            decision.tick_time,
            decision.action,
            decision.amount,
            decision.strategy,
            json.dumps(decision.params),
            json.dumps(decision.indicators),
            decision.reason,
        )
        return bool(status == "INSERT 0 1")

    async def link_trade(self, decision_id: str, trade_id: str) -> bool:
        """Note the trade a decision started; False when the decision is unknown or already
        names a trade (a retry links the same trade once)."""
        status = await self.db.pool.execute(
            "UPDATE decisions SET trade_id = $2 WHERE decision_id = $1 AND trade_id IS NULL",
            decision_id,
            trade_id,
        )
        return bool(status == "UPDATE 1")

    async def trade_id(self, decision_id: str) -> str | None:
        value = await self.db.pool.fetchval(
            "SELECT trade_id FROM decisions WHERE decision_id = $1", decision_id
        )
        return None if value is None else str(value)

    async def get(self, decision_id: str) -> Decision | None:
        row = await self.db.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM decisions WHERE decision_id = $1", decision_id
        )
        return None if row is None else _decision(row)

    async def recent(self, limit: int = 20, product_id: str | None = None) -> list[Decision]:
        """The newest `limit` decisions, newest first, of one product or all."""
        rows = await self.db.pool.fetch(
            f"SELECT {_COLUMNS} FROM decisions WHERE ($2::text IS NULL OR product_id = $2)"
            " ORDER BY tick_time DESC LIMIT $1",
            limit,
            product_id,
        )
        return [_decision(r) for r in rows]
