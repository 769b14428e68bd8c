"""The decide activity against a real Postgres: what it reads for the guards. A trade that a
decision started counts before the trade writer records it, and a tick decided late holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from activities.deciding import DecideActivities, DecisionPolicy
from kripto.db import Database
from kripto.db.decisions import DecisionRepository
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.decisions import Decision
from kripto.exchanges.paper import PaperExchange
from kripto.models import DecideInput, Rate
from kripto.risk import RiskSettings
from kripto.strategies.ema_cross import EmaCross
from workflows.ids import decide_id


def activities(db: Database) -> DecideActivities:
    fee = Decimal("0.005")
    return DecideActivities(
        RateRepository(db),
        TradeRepository(db),
        DecisionRepository(db),
        PaperExchange(db, fee_rate=fee, initial_gbp=Decimal("1000.00")),
        DecisionPolicy(strategy=EmaCross(2, 5), risk=RiskSettings(), fee_rate=fee),
    )


async def jump_at(db: Database, tick: datetime) -> Rate:
    """Ten flat minutes before `tick`, then a jump at it: an ema_cross buy signal."""
    rates = RateRepository(db)
    for i in range(10, 0, -1):
        flat = Rate(
            rate=Decimal("40000.00"), date_time=tick - timedelta(minutes=i), source="simulated"
        )
        await rates.insert(flat)
    return Rate(rate=Decimal("57000.00"), date_time=tick, source="simulated")


def this_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def test_a_fresh_jump_buys_and_names_its_trade(db: Database) -> None:
    tick = await jump_at(db, this_minute())
    decision = await activities(db).decide(DecideInput(rate=tick))
    assert (decision.action, decision.amount) == ("buy", Decimal("150.00"))
    trade_id = await DecisionRepository(db).trade_id(decision.decision_id)
    assert trade_id == decision.decision_id.replace("decide-", "trade-")


async def test_a_started_trade_not_yet_recorded_holds_the_next_signal_in_cooldown(
    db: Database,
) -> None:
    now = this_minute()
    started = Decision(
        decision_id=decide_id("BTC-GBP", now - timedelta(minutes=2)),
        product_id="BTC-GBP",
        tick_time=now - timedelta(minutes=2),
        action="buy",
        amount=Decimal("150.00"),
        strategy="ema_cross",
        params={},
        indicators={},
        reason="buy: ema_cross signal",
    )
    await DecisionRepository(db).record(started, "trade-in-flight")
    tick = await jump_at(db, now)
    decision = await activities(db).decide(DecideInput(rate=tick))
    assert decision.action == "hold"
    assert decision.reason.startswith("hold: ema_cross said buy, but cooldown: last trade ")
    assert decision.reason.endswith(" min ago (needs 30 min)")
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 0


async def test_a_tick_decided_long_after_its_minute_holds_on_stale_data(db: Database) -> None:
    tick = await jump_at(db, this_minute() - timedelta(minutes=12))
    decision = await activities(db).decide(DecideInput(rate=tick))
    assert decision.action == "hold"
    assert decision.reason.startswith("hold: stale data: the newest rate is 1")
    assert decision.reason.endswith(" min old (limit 5 min)")
    assert await DecisionRepository(db).trade_id(decision.decision_id) is None
