"""A person's own trade (`kripto trade`) is not held to the automatic trades' cooldown (it is
deliberate, as with the kill switch), but it counts for it: the command says when it goes past
it, read from the books as the decisions read them (the trades' rows and the decisions'
reservations). The daily spend limit holds every buy, a person's too (the trade refuses one
that does not fit: tests/workflows/test_trade_daily_limit.py)."""

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


def test_a_persons_trade_past_the_cooldown_is_named() -> None:
    risk = RiskSettings()  # a 30 min cooldown
    recent = [PastTrade(NOW - timedelta(minutes=5), Side.BUY, Decimal("200.00"), "BTC-GBP")]
    assert past_the_guards("BTC-GBP", recent_trades=recent, now=NOW, risk=risk) == [
        "the cooldown (last BTC-GBP trade 5 min ago; the automatic trades wait 30 min)"
    ]
    # Another market's cooldown is its own; and half an hour on, the cooldown is over.
    assert past_the_guards("ETH-GBP", recent_trades=recent, now=NOW, risk=risk) == []
    later = NOW + timedelta(minutes=25)
    assert past_the_guards("BTC-GBP", recent_trades=recent, now=later, risk=risk) == []


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
    [past] = await guards_passed(settings, request)  # the reservation: a BTC-GBP trade, now
    assert past == "the cooldown (last BTC-GBP trade 0 min ago; the automatic trades wait 30 min)"
