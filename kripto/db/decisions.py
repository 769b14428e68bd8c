"""The decisions table: one row per tick, keyed by the decision's ID. A decision that starts a
trade is also its *reservation*: recorded in the same statement, it counts for the next
decision's daily limit and cooldown until the trade claims its key (its row counts from then
on) or fails before placing (`end_reservation`), or `RESERVATION_TTL` has passed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kripto.db.pool import Database
from kripto.models import Decision

_COLUMNS = (
    "decision_id, product_id, tick_time, action, amount, strategy, params, indicators, reason,"
    " protection"
)


#: A reservation whose trade neither claimed its key nor failed by now never started: it ends.
#: (A trade's checks before its claim retry for about 7.5 minutes at most.)
RESERVATION_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class Reservation:
    trade_id: str
    product_id: str
    action: str
    amount: Decimal
    #: When the decision was recorded.
    at: datetime


def _decision(row: Any) -> Decision:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["indicators"] = json.loads(data["indicators"])
    return Decision.model_validate(data)


class DecisionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, decision: Decision, trade_id: str | None = None) -> bool:
        """Store a decision once, with the trade it starts (None for a hold): False when its ID
        (derived from the tick) is already there."""
        status = await self.db.pool.execute(
            f"INSERT INTO decisions ({_COLUMNS}, trade_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
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
            decision.protection,
            trade_id,
        )
        return bool(status == "INSERT 0 1")

    async def record_many(self, decisions: list[tuple[Decision, str | None]]) -> int:
        """`record` for many decisions in one statement (an exchange tick's); returns how many
        were new."""
        if not decisions:
            return 0
        status = await self.db.pool.execute(
            f"INSERT INTO decisions ({_COLUMNS}, trade_id)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[],"
            " $5::numeric[], $6::text[], $7::jsonb[], $8::jsonb[], $9::text[], $10::text[],"
            " $11::text[])"
            " ON CONFLICT (decision_id) DO NOTHING",
            [d.decision_id for d, _ in decisions],
            [d.product_id for d, _ in decisions],
            [d.tick_time for d, _ in decisions],
            [d.action for d, _ in decisions],
            [d.amount for d, _ in decisions],
            [d.strategy for d, _ in decisions],
            [json.dumps(d.params) for d, _ in decisions],
            [json.dumps(d.indicators) for d, _ in decisions],
            [d.reason for d, _ in decisions],
            [d.protection for d, _ in decisions],
            [t for _, t in decisions],
        )
        return int(status.rsplit(" ", 1)[1])

    async def reservations(self, since: datetime, quote: str | None = None) -> list[Reservation]:
        """The open reservations recorded after `since` (of products quoted in `quote`): trades
        decided on that have not claimed their key and have not failed before placing."""
        rows = await self.db.pool.fetch(
            "SELECT d.trade_id, d.product_id, d.action, d.amount, d.created_at FROM decisions d"
            " WHERE d.trade_id IS NOT NULL AND d.reservation_ended_at IS NULL"
            " AND d.created_at > greatest($1::timestamptz, now() - $2::interval)"
            " AND ($3::text IS NULL OR split_part(d.product_id, '-', 2) = $3)"
            " AND NOT EXISTS (SELECT 1 FROM trade_keys k WHERE k.trade_id = d.trade_id)"
            " ORDER BY d.created_at",
            since,
            RESERVATION_TTL,
            quote,
        )
        return [
            Reservation(r["trade_id"], r["product_id"], r["action"], r["amount"], r["created_at"])
            for r in rows
        ]

    async def end_reservation(self, trade_id: str) -> None:
        """The trade failed before placing anything: its reservation counts no more."""
        await self.db.pool.execute(
            "UPDATE decisions SET reservation_ended_at = now()"
            " WHERE trade_id = $1 AND reservation_ended_at IS NULL",
            trade_id,
        )

    async def get_many(self, decision_ids: list[str]) -> dict[str, Decision]:
        rows = await self.db.pool.fetch(
            f"SELECT {_COLUMNS} FROM decisions WHERE decision_id = ANY($1::text[])", decision_ids
        )
        return {r["decision_id"]: _decision(r) for r in rows}

    @asynccontextmanager
    async def exclusive(self, scope: str) -> AsyncIterator[None]:
        """One decision at a time per `scope` (the quote currency: markets quoted in it share
        its balance and daily limit), across workers: overlapping ticks each see the trades
        the others started."""
        async with self.db.advisory_lock(f"kripto-decide-{scope}"):
            yield

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
