"""A person's own trade (`kripto trade`) is not held to the automatic trades' cooldown and daily
spend limit (it is deliberate, as with the kill switch), but it counts for them: the command
says when it goes past them, read from the books as the decisions read them (the trades' rows
and the decisions' reservations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kripto.cli.trading import guards_passed
from kripto.db import Database
from kripto.db.decisions import DecisionRepository
from kripto.db.trades import TradeRepository
from kripto.ids import decide_id
from kripto.models import Decision, Side, TradeRequest
from kripto.risk import PastTrade, RiskSettings, past_the_guards
from kripto.settings import Settings

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_a_persons_trade_past_the_cooldown_and_the_daily_limit_is_named() -> None:
    risk = RiskSettings()  # a 30 min cooldown, £250.00 a day
    recent = [PastTrade(NOW - timedelta(minutes=5), Side.BUY, Decimal("200.00"), "BTC-GBP")]
    assert past_the_guards(
        Side.BUY, Decimal("100.00"), "BTC-GBP", recent_trades=recent, now=NOW, risk=risk
    ) == [
        "the cooldown (last BTC-GBP trade 5 min ago; the automatic trades wait 30 min)",
        "the daily spend limit (£200.00 GBP spent in the last 24 h and £100.00 now, of £250.00)",
    ]
    # Another market: its own cooldown is clear, the limit is shared.
    assert (
        past_the_guards(
            Side.BUY, Decimal("40.00"), "ETH-GBP", recent_trades=recent, now=NOW, risk=risk
        )
        == []
    )
    # A sell spends nothing.
    later = NOW + timedelta(hours=1)
    assert (
        past_the_guards(
            Side.SELL, Decimal("100.00"), "BTC-GBP", recent_trades=recent, now=later, risk=risk
        )
        == []
    )


async def test_kripto_trade_reads_the_rows_and_the_reservations(
    db: Database, settings: Settings
) -> None:
    request = TradeRequest(trade_type=Side.BUY, amount=Decimal("100.00"))
    assert await guards_passed(settings, request) == []
    claimed = TradeRequest(trade_type=Side.BUY, amount=Decimal("120.00"), product_id="ETH-GBP")
    assert await TradeRepository(db).claim("trade-claimed", claimed) is None
    now = datetime.now(UTC)
    decided = Decision(
        decision_id=decide_id("BTC-GBP", now),
        product_id="BTC-GBP",
        tick_time=now,
        action="buy",
        amount=Decimal("60.00"),
        strategy="ema_cross",
        params={},
        indicators={},
        reason="buy: ema_cross signal",
    )
    await DecisionRepository(db).record(decided, "trade-reserved")
    past = await guards_passed(settings, request)
    assert [p.split(" (")[0] for p in past] == ["the cooldown", "the daily spend limit"]
    assert "£180.00 GBP spent in the last 24 h and £100.00 now" in past[1]
