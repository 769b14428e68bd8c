"""The daily summary's facts, read from the books: the day's trades, the position, the latest
rate and the kill switch, per product."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from temporalio.client import Client

from kripto.db.pool import Database
from kripto.db.trades import TradeRepository
from kripto.notify.events import Notify
from kripto.notify.messages import daily_summary
from kripto.portfolio import Fill, position
from kripto.settings import Settings
from kripto.temporal.kill_switch import schedule_status


class DailySummary:
    def __init__(self, db: Database, client: Client, settings: Settings) -> None:
        self.db = db
        self.client = client
        self.settings = settings

    async def build(self, day: date) -> list[Notify]:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        trades = TradeRepository(self.db)
        events = []
        for product_id in self.settings.products:
            every = await trades.since(datetime(1970, 1, 1, tzinfo=UTC), product_id=product_id)
            held = position(
                Fill(o.created_at, o.side, o.filled_size, o.executed_value, o.fill_fees)
                for o in every
                if o.created_at < start + timedelta(days=1)
            )
            today = [o for o in every if start <= o.created_at < start + timedelta(days=1)]
            rate = await self.db.pool.fetchval(
                "SELECT rate FROM rates WHERE product_id = $1 AND date_time < $2"
                " ORDER BY date_time DESC LIMIT 1",
                product_id,
                start + timedelta(days=1),
            )
            status = await schedule_status(self.client, product_id, self.settings.task_queue)
            paused = status.paused if status.exists else None
            events.append(daily_summary(day, product_id, today, held, rate, paused))
        return events
