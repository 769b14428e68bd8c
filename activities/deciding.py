"""trade-decider's activity: load the week, the wallet and the recent trades itself (rates never
travel through workflow payloads), decide with the pure strategy and risk code, record it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio import activity

from activities.errors import temporal_errors
from kripto.db.decisions import DecisionRepository
from kripto.db.protections import ProtectionRepository
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.decisions import Decision, decide
from kripto.exchanges.base import Exchange
from kripto.metrics import Metrics
from kripto.models import DecideInput, currencies
from kripto.risk import PastTrade, RiskSettings
from kripto.strategies.base import Strategy
from kripto.temporal.kill_switch import KillSwitch
from workflows.ids import decide_id, trade_id_for_decision

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class DecisionPolicy:
    strategy: Strategy
    risk: RiskSettings
    fee_rate: Decimal


class DecideActivities:
    def __init__(
        self,
        rates: RateRepository,
        trades: TradeRepository,
        decisions: DecisionRepository,
        exchange: Exchange,
        policy: DecisionPolicy,
        kill_switch: KillSwitch,
        metrics: Metrics | None = None,
    ) -> None:
        self.rates = rates
        self.trades = trades
        self.decisions = decisions
        self.exchange = exchange
        self.policy = policy
        self.kill_switch = kill_switch
        self.metrics = metrics or Metrics.noop()

    @activity.defn
    async def decide(self, input: DecideInput) -> Decision:
        tick = input.rate
        decision_id = decide_id(tick.product_id, tick.date_time)
        with temporal_errors():
            # The kill switch (a server round trip) and the week (the largest read) need no
            # lock: rates only grow, and the tick's own rate is added if its store child has
            # not written it yet. Both run before the lock, side by side, so the lock is held
            # only for what other decisions change (trades, decisions) and the arithmetic.
            paused_task = asyncio.ensure_future(self.kill_switch.engaged(tick.product_id))
            try:
                week = await self.rates.history(
                    tick.product_id, tick.date_time - WEEK, tick.date_time
                )
                paused = await paused_task
            finally:
                if not paused_task.done():
                    paused_task.cancel()
            week = week.with_newer(tick)
            # One decision at a time per quote currency: the markets quoted in GBP share the
            # GBP balance and the daily spend limit, so each must see what the others started.
            quote = currencies(tick.product_id)[1]
            async with self.decisions.exclusive(quote):
                recorded = await self.decisions.get(decision_id)
                if recorded is not None:  # a retried attempt returns what was decided
                    return recorded
                now = datetime.now(UTC)
                day_ago = now - timedelta(days=1)
                # The day's trades in this product's quote currency, of every product: the
                # daily limit is shared across markets; the cooldown picks out its own. Every
                # order is on the books from the moment its key is claimed (settled or not), so
                # these rows are all there is to count.
                recent = [PastTrade.of(t) for t in await self.trades.since(day_ago, quote=quote)]
                wallet = await self.exchange.wallet()
                rules = self.policy.risk.protections
                protection = None
                if rules.any:  # the stop-loss, trailing stop, drawdown and stop-loss guards
                    protection = await ProtectionRepository(self.decisions.db).load(
                        tick.product_id, week, now, rules.stop_loss_window
                    )
                decision = decide(
                    decision_id=decision_id,
                    product_id=tick.product_id,
                    tick_time=tick.date_time,
                    rates=week,
                    wallet=wallet,
                    recent_trades=recent,
                    strategy=self.policy.strategy,
                    risk=self.policy.risk,
                    fee_rate=self.policy.fee_rate,
                    now=now,
                    paused=paused,
                    protection=protection,
                )
                if protection is not None:
                    await ProtectionRepository(self.decisions.db).save(tick.product_id, protection)
                trade_id = None if decision.action == "hold" else trade_id_for_decision(decision_id)
                await self.decisions.record(decision, trade_id)
                self.metrics.decided(tick.product_id, decision.action, decision.reason)
                return decision
