"""trade-decider's activity: load the week, the wallet and the recent trades itself (rates never
travel through workflow payloads), decide with the pure strategy and risk code, record it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from temporalio import activity

from activities.errors import temporal_errors
from kripto.db.decisions import DecisionRepository
from kripto.db.protections import ProtectionRepository
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.decisions import decide
from kripto.exchanges.base import Exchange
from kripto.ids import decide_id, trade_id_for_decision
from kripto.metrics import Metrics
from kripto.models import (
    DecideMarketsInput,
    DecideMarketsResult,
    Decision,
    MarketTrade,
    Rate,
    Side,
    Wallet,
    currencies,
)
from kripto.notify.events import Notify
from kripto.notify.messages import protection_fired
from kripto.protections import ProtectionState
from kripto.risk import PastTrade, RiskSettings
from kripto.strategies.base import Strategy
from kripto.strategies.series import PriceHistory

WEEK = timedelta(days=7)
#: Markets whose weeks one query reads in an exchange tick's decision: each chunk is decided
#: while the next one is read.
READ_CHUNK = 250
READS_AHEAD = 2


@dataclass(frozen=True)
class DecisionPolicy:
    strategy: Strategy
    risk: RiskSettings
    fee_rate: Decimal


class PauseSwitch(Protocol):
    """The kill switch as a decision reads it: which of these products are paused (the worker
    hands in kripto.runtime.kill_switch.KillSwitch, over its exchange's schedule)."""

    async def paused_products(self, products: list[str]) -> set[str]: ...


class DecideActivities:
    def __init__(
        self,
        rates: RateRepository,
        trades: TradeRepository,
        decisions: DecisionRepository,
        exchange: Exchange,
        policy: DecisionPolicy,
        kill_switch: PauseSwitch,
        metrics: Metrics | None = None,
        announce: Callable[[Notify], Awaitable[object]] | None = None,
    ) -> None:
        """`announce` sends a notification (a protection that fired); None sends none."""
        self.announce = announce
        self._sending: set[asyncio.Task[None]] = set()
        self.rates = rates
        self.trades = trades
        self.decisions = decisions
        self.exchange = exchange
        self.policy = policy
        self.kill_switch = kill_switch
        self.metrics = metrics or Metrics.noop()

    def _news(self, decision: Decision) -> None:
        """A protection that fired is news for the phone, sent beside the decision."""
        event = protection_news(decision)
        if event is None or self.announce is None:
            return
        task = asyncio.ensure_future(self._announce(self.announce, event))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    @staticmethod
    async def _announce(announce: Callable[[Notify], Awaitable[object]], event: Notify) -> None:
        try:
            await announce(event)
        except Exception as exc:  # news must never break a decision
            activity.logger.warning("notification %s not started: %s", event.key, exc)

    async def _recent_trades(self, quote: str, now: datetime) -> list[PastTrade]:
        """The day's trades in `quote` of every product (the daily limit is shared across
        markets; the cooldown picks out its own): every order is on the books from the moment
        its key is claimed (settled or not), and before that a decision that started a trade
        reserves its amount (recorded with the decision, under this same lock), so the trades
        decided on and not yet claimed count too."""
        day_ago = now - timedelta(days=1)
        recent = [PastTrade.of(t) for t in await self.trades.since(day_ago, quote=quote)]
        for r in await self.decisions.reservations(day_ago, quote=quote):
            recent.append(PastTrade(r.at, Side(r.action), r.amount, r.product_id))
        return recent

    def _decide_chunk(
        self,
        chunk: list[Rate],
        weeks: dict[str, PriceHistory],
        ids: dict[str, str],
        wallet: Wallet,
        recent: list[PastTrade],
        now: datetime,
        paused: set[str],
        protections: dict[str, ProtectionState],
    ) -> list[Decision]:
        """Decide each market of `chunk` in turn; a buy or sell joins `recent` for the next."""
        made = []
        for rate in chunk:
            product = rate.product_id
            decision = decide(
                decision_id=ids[product],
                product_id=product,
                tick_time=rate.date_time,
                rates=weeks[product].with_newer(rate),
                wallet=wallet,
                recent_trades=recent,
                strategy=self.policy.strategy,
                risk=self.policy.risk,
                fee_rate=self.policy.fee_rate,
                now=now,
                paused=product in paused,
                protection=protections.get(product),
            )
            if decision.action != "hold":  # recorded ones are in `recent` already
                recent.append(
                    PastTrade(rate.date_time, Side(decision.action), decision.amount, product)
                )
            made.append(decision)
        return made

    async def _protections(
        self, chunk: list[Rate], weeks: dict[str, PriceHistory], now: datetime
    ) -> dict[str, ProtectionState]:
        """Each market's protection state, when any protection is set (none by default)."""
        rules = self.policy.risk.protections
        if not rules.any:
            return {}
        repository = ProtectionRepository(self.decisions.db)
        return {
            rate.product_id: await repository.load(
                rate.product_id,
                weeks[rate.product_id].with_newer(rate),
                now,
                rules.stop_loss_window,
            )
            for rate in chunk
        }

    @activity.defn
    async def decide_markets(self, input: DecideMarketsInput) -> DecideMarketsResult:
        """An exchange tick's decisions, one per product, in one activity: the kill switch
        asked once, each quote currency's lock taken once with its trades and wallet read
        once, the weeks read as arrays `READ_CHUNK` markets to a query, and the new decisions
        recorded in one insert. Each is decided exactly as `decide` would (same IDs, same
        guards); a trade decided earlier in the batch counts for the daily limit and the
        cooldown of the ones after it.

        The arithmetic runs in a thread, chunk by chunk, while the next chunk's weeks stream
        in: the worker's event loop stays free for its other tasks, and Postgres and Python
        work side by side."""
        prices = input.prices
        at = prices.at
        rates = prices.rates()
        products = [r.product_id for r in rates]
        decided: dict[str, Decision] = {}
        with temporal_errors():
            paused = await self.kill_switch.paused_products(products)
            by_quote: dict[str, list[Rate]] = {}
            for rate in rates:
                by_quote.setdefault(currencies(rate.product_id)[1], []).append(rate)
            for quote, group in by_quote.items():
                async with self.decisions.exclusive(quote):
                    ids = {r.product_id: decide_id(r.product_id, at) for r in group}
                    recorded = await self.decisions.get_many(list(ids.values()))
                    now = datetime.now(UTC)
                    recent = await self._recent_trades(quote, now)
                    wallet = await self.exchange.wallet()
                    todo = [r for r in group if ids[r.product_id] not in recorded]
                    for r in group:
                        if ids[r.product_id] in recorded:
                            decided[r.product_id] = recorded[ids[r.product_id]]
                    chunks = [todo[i : i + READ_CHUNK] for i in range(0, len(todo), READ_CHUNK)]
                    new: list[tuple[Decision, str | None]] = []

                    def read(chunk: list[Rate]) -> asyncio.Future[dict[str, PriceHistory]]:
                        names = [r.product_id for r in chunk]
                        return asyncio.ensure_future(self.rates.histories(names, at - WEEK, at))

                    # READS_AHEAD reads in flight: Postgres runs each on its own connection
                    # (and core) while this worker decides the chunk before them.
                    reads = [read(c) for c in chunks[:READS_AHEAD]]
                    try:
                        for k, chunk in enumerate(chunks):
                            weeks = await reads[k]
                            if k + READS_AHEAD < len(chunks):
                                reads.append(read(chunks[k + READS_AHEAD]))
                            protections = await self._protections(chunk, weeks, now)
                            made = await asyncio.to_thread(
                                self._decide_chunk,
                                chunk,
                                weeks,
                                ids,
                                wallet,
                                recent,
                                now,
                                paused,
                                protections,
                            )
                            repository = ProtectionRepository(self.decisions.db)
                            for product, state in protections.items():
                                await repository.save(product, state)
                            for decision in made:
                                trade = (
                                    None
                                    if decision.action == "hold"
                                    else trade_id_for_decision(decision.decision_id)
                                )
                                new.append((decision, trade))
                                decided[decision.product_id] = decision
                                self.metrics.decided(
                                    decision.product_id, decision.action, decision.reason
                                )
                                # One line per market and minute, as a product's own tick wrote.
                                activity.logger.info(
                                    "tick %s %s %s (%s): %s",
                                    decision.product_id,
                                    f"{at:%Y-%m-%dT%H:%M:%SZ}",
                                    prices.prices[decision.product_id],
                                    prices.source,
                                    decision.reason,
                                )
                    finally:
                        for pending in reads:
                            if not pending.done():
                                pending.cancel()
                    await self.decisions.record_many(new)
                    for decision, _ in new:
                        self._news(decision)
        return DecideMarketsResult(
            actions={p: decided[p].action for p in products},
            trades=[
                MarketTrade(
                    decision_id=d.decision_id,
                    product_id=d.product_id,
                    action=d.action,
                    amount=d.amount,
                    base_size=d.base_size,
                )
                for d in (decided[p] for p in products)
                if d.action != "hold"
            ],
        )


def protection_news(decision: Decision) -> Notify | None:
    """The notification of a decision a protection caused: an exit (a stop-loss or trailing
    stop selling) once per decision; a guard holding buys once a day per market, not every
    minute it holds."""
    if decision.protection is None:
        return None
    event = protection_fired(
        decision.decision_id, decision.product_id, decision.protection, decision.reason
    )
    if decision.action == "hold":
        name = decision.protection.replace(" ", "-")
        day = f"{decision.tick_time:%Y-%m-%d}"
        event = event.model_copy(update={"key": f"protection-{decision.product_id}-{name}-{day}"})
    return event
