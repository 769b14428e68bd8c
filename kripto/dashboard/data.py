"""What the dashboard shows, read from Postgres. Money stays Decimal here; the JSON view turns
it into strings. Chart series are downsampled in SQL (the last rate of each bucket), so a week
of minute rates reaches the browser as at most MAX_POINTS points."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from kripto.db.dashboard import DashboardQueries
from kripto.db.pool import Database
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.fees import FeeTier, saved_against_taker
from kripto.models import Rate
from kripto.money import PENNY, plain
from kripto.portfolio import Fill, dca_series, position, value_series

Span = Literal["day", "week", "all"]
SPANS: dict[str, timedelta | None] = {
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "all": None,
}
MAX_POINTS = 1500


def _gbp(value: Decimal) -> str:
    return plain(value.quantize(PENNY))


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


@dataclass(frozen=True)
class ChartData:
    rates: list[tuple[datetime, Decimal]]
    fills: list[Fill]


class DashboardData:
    def __init__(
        self, db: Database, product_id: str, start_gbp: Decimal, tier: FeeTier | None = None
    ) -> None:
        """`tier`: the configured fee tier (KRIPTO_FEE_TIER), for the fees saved against
        paying its taker rate on every fill, and the taker fee the buy-and-hold line pays (as
        the backtester's does); None: neither."""
        self.db = db
        self.queries = DashboardQueries(db)
        self.product_id = product_id
        self.start_gbp = start_gbp
        self.tier = tier
        self.fee_rate = tier.taker if tier is not None else Decimal(0)

    async def rates(self, span: Span) -> list[tuple[datetime, Decimal]]:
        """The last rate of each of at most MAX_POINTS equal buckets across the span, which
        ends at the newest stored rate."""
        oldest, newest = await self.queries.rate_bounds(self.product_id)
        if oldest is None or newest is None:
            return []
        length = SPANS[span]
        lo = max(oldest, newest - length) if length else oldest
        width = max((newest - lo).total_seconds() / MAX_POINTS, 1.0)
        rows = await self.queries.bucketed_rates(self.product_id, lo, width)
        return [(r["date_time"], r["rate"]) for r in rows]

    async def fills(self) -> list[Fill]:
        return await TradeRepository(self.db).fills(self.product_id)

    async def chart(self, span: Span, fills: list[Fill]) -> dict[str, Any]:
        rates = await self.rates(span)
        since = rates[0][0] if rates else None
        markers = await self.queries.trade_markers(self.product_id, since)
        values = value_series(fills, self.start_gbp, rates, self.fee_rate)
        first_at = min((f.at for f in fills), default=None)
        dca = dca_series(self.start_gbp, first_at, rates)
        return {
            "span": span,
            "rates": [{"time": _epoch(at), "value": plain(rate)} for at, rate in rates],
            "value": [{"time": _epoch(at), "value": _gbp(v)} for at, v, _ in values],
            "hold": [
                {"time": _epoch(at), "value": _gbp(h)} for at, _, h in values if h is not None
            ],
            # The same money in equal daily buys from the first trade (as buy-and-hold, no fee).
            "dca": [{"time": _epoch(at), "value": _gbp(v)} for at, v in dca],
            "markers": [
                {
                    "id": m["trade_id"],
                    "time": _epoch(m["created_at"]),
                    "side": m["side"],
                    "value": _gbp(m["executed_value"]),
                    "btc": plain(m["filled_size"]),
                    "decision": m["decision_id"],
                    "reason": m["reason"] or "manual trade",
                }
                for m in markers
            ],
        }

    def money(self, fills: list[Fill], rate: Decimal | None) -> dict[str, Any]:
        held = position(fills)
        mark = rate if rate is not None else Decimal(0)
        traded = sum((f.value for f in fills), Decimal(0))
        saved = None if self.tier is None else saved_against_taker(traded, held.fees, self.tier)
        return {
            "startGbp": _gbp(self.start_gbp),
            "value": _gbp(held.value(self.start_gbp, mark)),
            "realised": _gbp(held.realised),
            "unrealised": _gbp(held.unrealised(mark)),
            "fees": _gbp(held.fees),
            # What the fills saved against paying the taker rate on all of them (maker fills).
            "feesSaved": None if saved is None else _gbp(saved),
            "btc": plain(held.btc),
        }

    async def latest_rate(self) -> tuple[datetime, Decimal] | None:
        latest = await self.latest()
        return (latest.date_time, latest.rate) if latest else None

    async def latest(self) -> Rate | None:
        """The newest stored rate, with its source: a `simulated` one is no real price."""
        return await RateRepository(self.db).latest(self.product_id)

    async def trades(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.queries.latest_trades(limit)
        return [
            {
                "id": r["trade_id"],
                "side": r["side"],
                "productId": r["product_id"],
                "funds": plain(r["funds"]),
                "filledSize": plain(r["filled_size"]),
                "executedValue": plain(r["executed_value"]),
                "fillFees": plain(r["fill_fees"]),
                # One amount story (as kripto trade and kripto trades): what was asked for,
                # and what was paid (a buy: value and fee) or got (a sell: value less fee).
                "asked": None if r["asked"] is None else plain(r["asked"]),
                "paid": plain(
                    r["executed_value"] + r["fill_fees"]
                    if r["side"] == "buy"
                    else r["executed_value"] - r["fill_fees"]
                ),
                # What one BTC cost (value / size), to the penny; none before it fills.
                "fillPrice": (
                    _gbp(r["executed_value"] / r["filled_size"]) if r["filled_size"] else None
                ),
                "settled": r["settled"],
                "createdAt": r["created_at"].isoformat(),
            }
            for r in rows
        ]

    async def decisions(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.queries.latest_decisions(self.product_id, limit)
        return [
            {
                "id": r["decision_id"],
                "tickTime": r["tick_time"].isoformat(),
                "action": r["action"],
                "amount": plain(r["amount"]),
                "reason": r["reason"],
                "tradeId": r["trade_id"],
                # The indicator values the strategy decided on (rsi, mean, edge, …), as text.
                "indicators": json.loads(r["indicators"]),
            }
            for r in rows
        ]

    async def wallet(self) -> dict[str, str] | None:
        """The paper exchange's balances (None when trading live: `kripto wallet` asks Coinbase)."""
        try:
            rows = await self.queries.paper_balances()
        except Exception:
            return None
        return {r["currency"].lower(): plain(r["balance"] - r["hold"]) for r in rows} or None
