"""The reconciler's reads and writes: the books (`trades` and `trade_keys`) for a period, the
orders it records, the rows it completes or closes, the differences it flags, and the balance
baselines (and their rebases)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from kripto.db.orders import order_columns, order_values
from kripto.db.pool import Database
from kripto.models import Order, Side
from kripto.reconcile import Baseline, BookEntry, Difference


def _entry(row: Any) -> BookEntry:
    return BookEntry(
        trade_id=row["trade_id"],
        side=Side(row["side"]),
        product_id=row["product_id"],
        at=row["at"],
        has_row=row["has_row"],
        settled=bool(row["settled"]),
        filled_size=row["filled_size"] if row["filled_size"] is not None else Decimal(0),
        executed_value=row["executed_value"] if row["executed_value"] is not None else Decimal(0),
        fill_fees=row["fill_fees"] if row["fill_fees"] is not None else Decimal(0),
        found_by_reconciler=row["found_by"] == "reconciler",
        settled_at=row["settled_at"],
    )


class ReconcileRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def books(self, since: datetime, until: datetime, keys: Sequence[str]) -> list[BookEntry]:
        """Every trade row created in the period, every unsettled row however old (the
        reconciler finishes any), every key claimed in the period with no row yet, and whatever
        the books hold under `keys` (the exchange's orders) whenever it was made."""
        rows = await self.db.pool.fetch(
            "SELECT t.trade_id, t.side, t.product_id, t.created_at AS at, true AS has_row,"
            " t.settled, t.filled_size, t.executed_value, t.fill_fees, t.found_by,"
            " t.settled_at FROM trades t"
            " WHERE t.created_at BETWEEN $1 AND $2 OR t.trade_id = ANY($3::text[])"
            " OR NOT t.settled"
            " UNION ALL"
            " SELECT k.trade_id, k.side, k.product_id, k.claimed_at AS at, false AS has_row,"
            " false, NULL, NULL, NULL, NULL, NULL FROM trade_keys k"
            " WHERE (k.claimed_at BETWEEN $1 AND $2 OR k.trade_id = ANY($3::text[]))"
            " AND NOT EXISTS (SELECT 1 FROM trades t WHERE t.trade_id = k.trade_id)",
            since,
            until,
            list(keys),
        )
        return [_entry(r) for r in rows]

    async def balance_trades(self, t: datetime) -> list[BookEntry]:
        """For the expected balances: every trade row that settled (filled) after `t`, and
        every unsettled one, however old."""
        rows = await self.db.pool.fetch(
            "SELECT trade_id, side, product_id, created_at AS at, true AS has_row, settled,"
            " filled_size, executed_value, fill_fees, found_by, settled_at FROM trades"
            " WHERE coalesce(settled_at, created_at) > $1 OR NOT settled",
            t,
        )
        return [_entry(r) for r in rows]

    async def record_found(self, order: Order) -> bool:
        """Put an order the exchange has and the books had not on the books, marked as found by
        the reconciler; True when this inserted the row. A row it recorded unsettled (a resting
        order) takes the order's figures so far; any other row under the key is left as it is
        (`complete` finishes unsettled ones)."""
        inserted = await self.db.pool.fetchval(
            f"INSERT INTO trades (trade_id, {order_columns('exchange_order_id')}, found_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'reconciler')"
            " ON CONFLICT (trade_id) DO UPDATE SET funds = EXCLUDED.funds,"
            " filled_size = EXCLUDED.filled_size, executed_value = EXCLUDED.executed_value,"
            " fill_fees = EXCLUDED.fill_fees, settled = EXCLUDED.settled, recorded_at = now()"
            " WHERE trades.found_by = 'reconciler' AND NOT trades.settled"
            " RETURNING xmax = 0",
            order.client_order_id or order.id,
            order.id,
            *order_values(order, client_order_id=order.client_order_id or order.id),
        )
        return bool(inserted)

    async def complete(self, order: Order) -> bool:
        """Complete the unsettled row of a settled order, whoever wrote it (its workflow ended,
        abandoned or terminated, with the row unsettled): the order's figures, settled, and an
        outcome noting it (the receipt is then owed: `found_without_receipt`). False when the
        row was settled already (its own workflow got there first)."""
        key = order.client_order_id or order.id
        async with self.db.pool.acquire() as conn, conn.transaction():
            updated = await conn.execute(
                "UPDATE trades SET exchange_order_id = $2, funds = greatest(funds, $3),"
                " filled_size = $4, executed_value = $5, fill_fees = $6, settled = true,"
                " recorded_at = now() WHERE trade_id = $1 AND NOT settled",
                key,
                order.id,
                order.funds,
                order.filled_size,
                order.executed_value,
                order.fill_fees,
            )
            if updated != "UPDATE 1":
                return False
            await conn.execute(
                "INSERT INTO reconcile_outcomes (trade_id, outcome, detail) VALUES ($1,"
                " 'completed', $2) ON CONFLICT (trade_id) DO UPDATE SET outcome = 'completed',"
                " detail = EXCLUDED.detail, at = now()",
                key,
                f"completed from order {order.id}, settled on the exchange",
            )
        return True

    async def close_unfilled(self, trade_id: str, detail: str) -> bool:
        """The exchange ended the row's order with nothing filled: the unsettled row comes off
        the books (it never became a trade; its key stays claimed), noted as an outcome."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            deleted = await conn.execute(
                "DELETE FROM trades WHERE trade_id = $1 AND NOT settled", trade_id
            )
            if deleted != "DELETE 1":
                return False
            await conn.execute(
                "INSERT INTO reconcile_outcomes (trade_id, outcome, detail) VALUES ($1,"
                " 'closed_unfilled', $2) ON CONFLICT (trade_id) DO UPDATE SET"
                " outcome = 'closed_unfilled', detail = EXCLUDED.detail, at = now()",
                trade_id,
                detail,
            )
        return True

    async def record_abandon(self, trade_id: str, reason: str, by: str) -> None:
        """A person abandoned the trade (`kripto trade abandon`): who and why, for the
        reconciler's report when it completes the row."""
        await self.db.pool.execute(
            "INSERT INTO trade_abandons (trade_id, reason, abandoned_by) VALUES ($1, $2, $3)"
            " ON CONFLICT (trade_id) DO UPDATE SET reason = EXCLUDED.reason,"
            " abandoned_by = EXCLUDED.abandoned_by, at = now()",
            trade_id,
            reason,
            by,
        )

    async def abandoned(self, keys: Sequence[str]) -> dict[str, str]:
        """Why each of these trades was abandoned (`kripto trade abandon`), if it was."""
        rows = await self.db.pool.fetch(
            "SELECT trade_id, reason, abandoned_by FROM trade_abandons"
            " WHERE trade_id = ANY($1::text[])",
            list(keys),
        )
        return {r["trade_id"]: f"{r['reason']} ({r['abandoned_by']})" for r in rows}

    async def found_without_receipt(self) -> list[str]:
        """Keys of settled trades the reconciler recorded or completed whose receipt has not
        been sent."""
        rows = await self.db.pool.fetch(
            "SELECT t.trade_id FROM trades t WHERE t.settled AND (t.found_by = 'reconciler'"
            " OR EXISTS (SELECT 1 FROM reconcile_outcomes o WHERE o.trade_id = t.trade_id"
            " AND o.outcome = 'completed'))"
            " AND NOT EXISTS (SELECT 1 FROM receipts r WHERE r.trade_id = t.trade_id"
            " AND r.status = 'sent') ORDER BY t.created_at, t.trade_id"
        )
        return [str(r["trade_id"]) for r in rows]

    async def save_differences(
        self, differences: Iterable[Difference], at: datetime, since: datetime
    ) -> dict[tuple[str, str], datetime]:
        """Flag what this run found; a flagged difference no longer seen is marked resolved (a
        balance always; a trade's only if this run's period covered it). A missing order is
        resolved by this very run, which recorded it. Returns when each difference first
        appeared (kept while it stays open, whatever its figures do)."""
        found = list(differences)
        first_seen: dict[tuple[str, str], datetime] = {}
        async with self.db.pool.acquire() as conn, conn.transaction():
            for d in found:
                first_seen[(d.kind.value, d.subject)] = await conn.fetchval(
                    "INSERT INTO reconcile_differences"
                    " (kind, subject, detail, books, exchange, first_seen_at, last_seen_at,"
                    " resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $6,"
                    " CASE WHEN $1 = 'missing_from_books' THEN $6::timestamptz END)"
                    " ON CONFLICT (kind, subject) DO UPDATE SET detail = EXCLUDED.detail,"
                    " books = EXCLUDED.books, exchange = EXCLUDED.exchange,"
                    " last_seen_at = EXCLUDED.last_seen_at, resolved_at = EXCLUDED.resolved_at,"
                    " first_seen_at = CASE WHEN reconcile_differences.resolved_at IS NULL"
                    " THEN reconcile_differences.first_seen_at ELSE EXCLUDED.first_seen_at END"
                    " RETURNING first_seen_at",
                    d.kind.value,
                    d.subject,
                    d.detail,
                    d.books,
                    d.exchange,
                    at,
                )
            await conn.execute(
                "UPDATE reconcile_differences d SET resolved_at = $1"
                " WHERE d.resolved_at IS NULL AND d.last_seen_at < $1 AND (d.kind = 'balance'"
                " OR NOT EXISTS (SELECT 1 FROM trades t WHERE t.trade_id = d.subject"
                " AND t.created_at < $2))",
                at,
                since,
            )
        return first_seen

    async def open_differences(self) -> list[tuple[str, str]]:
        rows = await self.db.pool.fetch(
            "SELECT kind, subject FROM reconcile_differences WHERE resolved_at IS NULL"
            " ORDER BY kind, subject"
        )
        return [(r["kind"], r["subject"]) for r in rows]

    async def baselines(self) -> dict[str, Baseline]:
        rows = await self.db.pool.fetch("SELECT currency, balance, taken_at FROM balance_baselines")
        return {r["currency"]: Baseline(r["balance"], r["taken_at"]) for r in rows}

    async def rebase(
        self, balances: dict[str, Decimal], at: datetime, by: str, reason: str
    ) -> dict[str, Decimal | None]:
        """A person's new baseline for every currency (after a deposit or a withdrawal), noted
        with who and why; every rebase is kept. Returns each currency's previous baseline."""
        previous: dict[str, Decimal | None] = {}
        async with self.db.pool.acquire() as conn, conn.transaction():
            for currency, balance in sorted(balances.items()):
                previous[currency] = await conn.fetchval(
                    "SELECT balance FROM balance_baselines WHERE currency = $1 FOR UPDATE",
                    currency,
                )
                await conn.execute(
                    "INSERT INTO balance_baselines (currency, balance, taken_at, taken_by, reason)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (currency) DO UPDATE SET"
                    " balance = EXCLUDED.balance, taken_at = EXCLUDED.taken_at,"
                    " taken_by = EXCLUDED.taken_by, reason = EXCLUDED.reason",
                    currency,
                    balance,
                    at,
                    by,
                    reason,
                )
                await conn.execute(
                    "INSERT INTO balance_rebases (currency, previous, balance, taken_at, taken_by,"
                    " reason) VALUES ($1, $2, $3, $4, $5, $6)",
                    currency,
                    previous[currency],
                    balance,
                    at,
                    by,
                    reason,
                )
        return previous

    async def take_baselines(self, balances: dict[str, Decimal], at: datetime) -> None:
        """The wallet as it is now, for currencies that have no baseline yet."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            for currency, balance in balances.items():
                await conn.execute(
                    "INSERT INTO balance_baselines (currency, balance, taken_at)"
                    " VALUES ($1, $2, $3) ON CONFLICT (currency) DO NOTHING",
                    currency,
                    balance,
                    at,
                )
