"""The decide activity against a real Postgres and the dev server: what it reads for the guards.
A trade that a decision started counts before the trade writer records it, a tick decided late
holds, and so does one decided after the kill switch was thrown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.deciding import DecideActivities, DecisionPolicy
from kripto.db import Database
from kripto.db.decisions import DecisionRepository
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.exchanges.paper import PaperExchange
from kripto.ids import decide_id, schedule_id
from kripto.models import (
    DecideMarketsInput,
    Decision,
    Prices,
    Rate,
    Side,
    TradeRequest,
)
from kripto.risk import RiskSettings
from kripto.runtime.kill_switch import KillSwitch
from kripto.runtime.schedules import ensure_schedules, set_paused
from kripto.settings import Settings
from kripto.strategies.ema_cross import EmaCross


@pytest.fixture
def decider(db: Database, dev_server_env: WorkflowEnvironment) -> DecideActivities:
    """The activity as a worker builds it, its kill switch asking the real dev server."""
    fee = Decimal("0.005")
    return DecideActivities(
        RateRepository(db),
        TradeRepository(db),
        DecisionRepository(db),
        PaperExchange(db, fee_rate=fee, initial_gbp=Decimal("1000.00")),
        DecisionPolicy(strategy=EmaCross(2, 5), risk=RiskSettings(), fee_rate=fee),
        KillSwitch(dev_server_env.client, task_queue=IDLE),
    )


async def jump_at(db: Database, tick: datetime, product: str = "BTC-GBP") -> Rate:
    """Ten flat minutes before `tick`, then a jump at it: an ema_cross buy signal."""
    rates = RateRepository(db)
    for i in range(10, 0, -1):
        at = tick - timedelta(minutes=i)
        flat = Rate(product_id=product, rate=Decimal("40000.00"), date_time=at, source="simulated")
        await rates.insert(flat)
    return Rate(product_id=product, rate=Decimal("57000.00"), date_time=tick, source="simulated")


async def decide(decider: DecideActivities, tick: Rate) -> Decision:
    """One market's decision, as the exchange tick asks for it; as recorded."""
    prices = Prices.of([tick], tick.date_time, tick.source)
    await decider.decide_markets(DecideMarketsInput(prices=prices))
    decision = await decider.decisions.get(decide_id(tick.product_id, tick.date_time))
    assert decision is not None
    return decision


#: The task queue of the schedules these tests pause (no worker polls it).
IDLE = "kripto-idle"


def this_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def test_a_fresh_jump_buys_and_names_its_trade(
    db: Database, decider: DecideActivities
) -> None:
    tick = await jump_at(db, this_minute())
    decision = await decide(decider, tick)
    assert (decision.action, decision.amount) == ("buy", Decimal("150.00"))
    trade_id = await DecisionRepository(db).trade_id(decision.decision_id)
    assert trade_id == decision.decision_id.replace("decide-", "trade-")


async def test_a_claimed_trade_whose_order_is_not_named_yet_holds_the_next_signal_in_cooldown(
    db: Database, decider: DecideActivities
) -> None:
    """A trade is on the books from the moment its key is claimed (its row has no order ID
    yet): the guards count it at once, with no window after which it stops counting."""
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
    request = TradeRequest(trade_type=Side.BUY, amount=Decimal("150.00"), product_id="BTC-GBP")
    assert await TradeRepository(db).claim("trade-in-flight", request) is None
    [claimed] = await TradeRepository(db).recent()
    assert (claimed.id, claimed.settled, claimed.funds) == ("", False, Decimal("150.00"))
    tick = await jump_at(db, now)
    decision = await decide(decider, tick)
    assert decision.action == "hold"
    assert decision.reason.startswith("hold: ema_cross said buy, but cooldown: last trade ")
    assert decision.reason.endswith(" min ago (needs 30 min)")
    assert await db.pool.fetchval("SELECT count(*) FROM paper_orders") == 0


async def test_a_tick_decided_long_after_its_minute_holds_on_stale_data(
    db: Database, decider: DecideActivities
) -> None:
    tick = await jump_at(db, this_minute() - timedelta(minutes=12))
    decision = await decide(decider, tick)
    assert decision.action == "hold"
    assert decision.reason.startswith("hold: stale data: the newest rate is 1")
    assert decision.reason.endswith(" min old (limit 5 min)")
    assert await DecisionRepository(db).trade_id(decision.decision_id) is None


async def test_the_kill_switch_holds_a_tick_that_was_already_running(
    db: Database, decider: DecideActivities, dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """`kripto schedule pause` stops new ticks, and a decision made after it holds."""
    client = dev_server_env.client
    settings = Settings(products=["XRP-GBP"], task_queue=IDLE, data_dir=tmp_path)
    await ensure_schedules(client, settings)
    try:
        await set_paused(client, settings, True, "kill switch")
        paused = await decide(decider, await jump_at(db, this_minute(), "XRP-GBP"))
        assert paused.action == "hold"
        assert paused.reason == (
            "hold: automatic trading is paused (`kripto schedule resume` turns it back on)"
        )
        await set_paused(client, settings, False, "resumed")
        later = this_minute() + timedelta(minutes=1)
        resumed = await decide(decider, await jump_at(db, later, "XRP-GBP"))
        assert resumed.action == "buy"
    finally:
        await client.get_schedule_handle(schedule_id("XRP-GBP", IDLE)).delete()


async def test_the_kill_switch_trusts_running_for_its_ttl_and_never_trusts_paused(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A pause reaches a running decision within the TTL; a resume at the next decision."""
    client = dev_server_env.client
    settings = Settings(products=["LTC-GBP"], task_queue=IDLE, data_dir=tmp_path)
    await ensure_schedules(client, settings)
    now = [0.0]
    switch = KillSwitch(client, ttl=5.0, clock=lambda: now[0], task_queue=IDLE)
    try:
        assert await switch.engaged("LTC-GBP") is False
        await set_paused(client, settings, True, "kill switch")
        now[0] = 4.9
        assert await switch.engaged("LTC-GBP") is False  # "running" was asked 4.9 s ago
        now[0] = 5.0
        assert await switch.engaged("LTC-GBP") is True
        await set_paused(client, settings, False, "resumed")
        assert await switch.engaged("LTC-GBP") is False  # "paused" is never kept
    finally:
        await client.get_schedule_handle(schedule_id("LTC-GBP", IDLE)).delete()


async def test_one_activity_decides_every_market_of_a_tick_and_the_kill_switch_holds_each(
    db: Database, decider: DecideActivities, dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The exchange tick's decisions: one per product, with the IDs and guards of a product's
    own; thrown while the tick runs, the kill switch holds every one of them."""
    client = dev_server_env.client
    products = ["SOL-GBP", "ADA-GBP", "DOT-GBP"]
    settings = Settings(products=products, task_queue=IDLE, data_dir=tmp_path)
    await ensure_schedules(client, settings)
    tick = this_minute()
    jumped = await jump_at(db, tick, "SOL-GBP")
    await jump_at(db, tick, "ADA-GBP")
    flat = {"SOL-GBP": jumped.rate, "ADA-GBP": Decimal("40000.00"), "DOT-GBP": Decimal("9.99")}
    prices = Prices(at=tick, source="simulated", prices=flat)
    try:
        await set_paused(client, settings, True, "kill switch")
        paused = await decider.decide_markets(DecideMarketsInput(prices=prices))
        assert paused.actions == dict.fromkeys(products, "hold") and paused.trades == []
        recorded = await DecisionRepository(db).get_many([decide_id(p, tick) for p in products])
        assert {d.reason for d in recorded.values()} == {
            "hold: automatic trading is paused (`kripto schedule resume` turns it back on)"
        }
        await set_paused(client, settings, False, "resumed")
        later = tick + timedelta(minutes=1)
        jumped = await jump_at(db, later, "SOL-GBP")
        prices = Prices(at=later, source="simulated", prices={**flat, "SOL-GBP": jumped.rate})
        resumed = await decider.decide_markets(DecideMarketsInput(prices=prices))
        assert resumed.actions == {"SOL-GBP": "buy", "ADA-GBP": "hold", "DOT-GBP": "hold"}
        [trade] = resumed.trades
        assert (trade.decision_id, trade.product_id, trade.action) == (
            decide_id("SOL-GBP", later),
            "SOL-GBP",
            "buy",
        )
        assert await DecisionRepository(db).trade_id(trade.decision_id) == (
            f"trade-SOL-GBP-{later:%Y-%m-%dT%H:%M:%SZ}"
        )
        # A retried attempt returns what was decided: the same trade, no second decision row.
        again = await decider.decide_markets(DecideMarketsInput(prices=prices))
        assert again == resumed
        count = await db.pool.fetchval("SELECT count(*) FROM decisions WHERE tick_time = $1", later)
        assert count == 3
    finally:
        await client.get_schedule_handle(schedule_id("SOL-GBP", IDLE)).delete()


async def test_a_decision_reserves_its_trade_until_it_claims_its_key_or_fails_before_placing(
    db: Database, decider: DecideActivities
) -> None:
    """The trade a decision started may wait minutes before it claims its key (its checks
    retry): the decision's reservation, recorded with it, holds the next signal in cooldown and
    counts for the daily limit from the start. Once the trade fails before placing, it no
    longer counts; once it claims its key, its row counts instead (not both)."""
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
    decisions = DecisionRepository(db)
    await decisions.record(started, "trade-reserved")  # its checks are still retrying
    [reserved] = await decisions.reservations(now - timedelta(days=1), quote="GBP")
    assert (reserved.trade_id, reserved.action, reserved.amount) == (
        "trade-reserved",
        "buy",
        Decimal("150.00"),
    )
    tick = await jump_at(db, now)
    decision = await decide(decider, tick)
    assert decision.action == "hold"
    assert decision.reason.startswith("hold: ema_cross said buy, but cooldown: last trade ")

    # The trade failed before placing: its reservation ends. Another market's reservation
    # (the cooldown is per market) still counts for the daily limit (£250 a day, shared): the
    # same tick, decided again, buys only the £100 left.
    await decisions.end_reservation("trade-reserved")
    assert await decisions.reservations(now - timedelta(days=1)) == []
    other = started.model_copy(
        update={"decision_id": decide_id("ETH-GBP", started.tick_time), "product_id": "ETH-GBP"}
    )
    await decisions.record(other, "trade-eth")
    await db.pool.execute("DELETE FROM decisions WHERE decision_id = $1", decision.decision_id)
    again = await decide(decider, tick)
    assert (again.action, again.amount) == ("buy", Decimal("100.00"))
    # Once the ETH trade claims its key, its row counts instead of its reservation (not both).
    request = TradeRequest(trade_type=Side.BUY, amount=Decimal("150.00"), product_id="ETH-GBP")
    assert await TradeRepository(db).claim("trade-eth", request) is None
    open_now = await decisions.reservations(now - timedelta(days=1))
    assert [r.trade_id for r in open_now] == [await decisions.trade_id(again.decision_id)]
