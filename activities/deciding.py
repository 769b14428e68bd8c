"""trade-decider's activity: load the week, the wallet and the recent trades itself (rates never
travel through workflow payloads), decide with the pure strategy and risk code, record it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from temporalio import activity

from activities.errors import temporal_errors
from kripto.db.decisions import DecisionRepository
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.decisions import Decision, decide
from kripto.exchanges.base import Exchange
from kripto.models import DecideInput
from kripto.risk import RiskSettings
from kripto.strategies.base import Strategy
from workflows.ids import decide_id

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
    ) -> None:
        self.rates = rates
        self.trades = trades
        self.decisions = decisions
        self.exchange = exchange
        self.policy = policy

    @activity.defn
    async def decide(self, input: DecideInput) -> Decision:
        tick = input.rate
        decision_id = decide_id(tick.product_id, tick.date_time)
        with temporal_errors():
            recorded = await self.decisions.get(decision_id)
            if recorded is not None:  # a retried attempt returns what was decided
                return recorded
            week = await self.rates.since(tick.product_id, tick.date_time - WEEK, tick.date_time)
            if not week or week[-1].date_time < tick.date_time:
                week.append(tick)  # the store child runs beside us; its rate may not be in yet
            decision = decide(
                decision_id=decision_id,
                product_id=tick.product_id,
                tick_time=tick.date_time,
                rates=week,
                wallet=await self.exchange.wallet(),
                recent_trades=await self.trades.since(tick.date_time - timedelta(days=1)),
                strategy=self.policy.strategy,
                risk=self.policy.risk,
                fee_rate=self.policy.fee_rate,
            )
            await self.decisions.record(decision)
            # A concurrent attempt may have recorded first: return what is on record.
            return await self.decisions.get(decision_id) or decision
