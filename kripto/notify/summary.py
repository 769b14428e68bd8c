"""The daily summary's facts, read from the books: the day's trades, the position, the latest
rate and the kill switch, per product."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from kripto.db.pool import Database
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.notify.events import Notify
from kripto.notify.messages import daily_summary
from kripto.portfolio import Fill, position

#: Whether a product's automatic trading is paused; None when it has no schedule. The worker
#: hands in one that reads the kill switch (kripto.runtime.kill_switch.schedule_status).
Paused = Callable[[str], Awaitable[bool | None]]


class DailySummary:
    def __init__(self, db: Database, products: Sequence[str], paused: Paused) -> None:
        self.db = db
        self.products = list(products)
        self.paused = paused

    async def build(self, day: date) -> list[Notify]:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        trades = TradeRepository(self.db)
        events = []
        for product_id in self.products:
            every = await trades.since(datetime(1970, 1, 1, tzinfo=UTC), product_id=product_id)
            held = position(
                Fill(o.created_at, o.side, o.filled_size, o.executed_value, o.fill_fees)
                for o in every
                if o.created_at < start + timedelta(days=1)
            )
            today = [o for o in every if start <= o.created_at < start + timedelta(days=1)]
            latest = await RateRepository(self.db).latest(product_id, start + timedelta(days=1))
            rate = None if latest is None else latest.rate
            paused = await self.paused(product_id)
            events.append(daily_summary(day, product_id, today, held, rate, paused))
        return events
