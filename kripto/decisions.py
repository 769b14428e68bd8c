"""The trade decider: from a week of rates, the wallet and recent trades, to buy, sell or hold,
with the indicator values it used and a one-line reason a person can read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from kripto.models import Money, ProductId, Rate, Side, UtcDateTime, Wallet, Wire, currencies
from kripto.money import fmt_money
from kripto.risk import Holdings, PastTrade, RiskSettings, size_trade
from kripto.strategies.base import BUY, SELL, Strategy
from kripto.strategies.series import PriceHistory, longest_gap, minute_grid

Action = Literal["buy", "sell", "hold"]


class Decision(Wire):
    """Small on purpose: it is a workflow result, so it lives in Temporal's history."""

    decision_id: str
    product_id: ProductId
    tick_time: UtcDateTime
    action: Action
    amount: Money = Field(ge=0)
    strategy: str
    params: dict[str, str]
    indicators: dict[str, str]
    reason: str


class DecisionResult(Wire):
    """What a tick needs to know of its decision."""

    action: Action
    reason: str


def _fmt(value: float) -> str:
    """Six significant digits as a plain decimal string (never `1e-05`), e.g. 60012.3, 0.044586;
    "NaN" for an indicator that has no value yet."""
    if not math.isfinite(value):
        return "NaN"
    return format(Decimal(f"{value:.6g}"), "f")


def decide(
    *,
    decision_id: str,
    product_id: str,
    tick_time: datetime,
    rates: Sequence[Rate] | PriceHistory,
    wallet: Wallet,
    recent_trades: Sequence[PastTrade],
    strategy: Strategy,
    risk: RiskSettings,
    fee_rate: Decimal,
    now: datetime | None = None,
    paused: bool = False,
) -> Decision:
    """`now` is when the decision is made: the real clock live, so a tick decided late (its
    worker was down) holds on stale data; the tick's own time in a backtest. `paused`: the kill
    switch is on. `rates` may be a `PriceHistory` (the live decider reads arrays straight from
    Postgres) or `Rate`s (tests, the CLI)."""
    now = now or tick_time

    def decision(
        action: Action,
        reason: str,
        *,
        amount: Decimal = Decimal(0),
        ind: dict[str, float] | None = None,
    ) -> Decision:
        return Decision(
            decision_id=decision_id,
            product_id=product_id,
            tick_time=tick_time,
            action=action,
            amount=amount,
            strategy=strategy.name,
            params=strategy.params(),
            indicators={k: _fmt(v) for k, v in (ind or {}).items()},
            reason=f"{action}: {reason}",
        )

    if paused:
        return decision(
            "hold", "automatic trading is paused (`kripto schedule resume` turns it back on)"
        )
    series = rates.minute_grid() if isinstance(rates, PriceHistory) else minute_grid(rates)
    prices, newest = series.prices, series.newest
    if newest is None:
        return decision("hold", "no rates stored yet")
    age = now - newest
    if age > risk.stale_after:
        return decision(
            "hold",
            f"stale data: the newest rate is {age.total_seconds() / 60:.0f} min old"
            f" (limit {risk.stale_after.total_seconds() / 60:.0f} min)",
        )
    need = strategy.min_points()
    if prices.size < need:
        return decision("hold", f"{prices.size:,} of {need:,} points needed for {strategy.needs()}")
    longest = longest_gap(series.observed, need)
    if longest > risk.max_gap_minutes:
        return decision(
            "hold",
            f"gap in the rates: {longest:,} minutes in a row without a rate within the last"
            f" {need:,} that {strategy.needs()} uses (limit {risk.max_gap_minutes:,})",
        )

    evaluation = strategy.evaluate(prices)
    indicators = {**evaluation.last_indicators(), "edge": float(evaluation.edge[-1])}
    signal = int(evaluation.signals[-1])
    if signal not in (BUY, SELL):
        return decision("hold", f"no {strategy.name} signal at the newest point", ind=indicators)
    side = Side.BUY if signal == BUY else Side.SELL
    if isinstance(rates, PriceHistory):
        assert rates.newest_rate is not None  # a history with a newest time has its rate
        latest = rates.newest_rate
    else:
        latest = max(rates, key=lambda r: r.date_time).rate
    base, quote = currencies(product_id)
    sized = size_trade(
        side,
        product_id=product_id,
        price=latest,
        holdings=Holdings(gbp=wallet.balance(quote).available, btc=wallet.balance(base).available),
        recent_trades=recent_trades,
        now=now,
        edge=float(evaluation.edge[-1]),
        fee_rate=fee_rate,
        risk=risk,
    )
    if not sized.ok:
        return decision(
            "hold", f"{strategy.name} said {side.value}, but {sized.reason}", ind=indicators
        )
    return decision(
        side.value,
        f"{strategy.name} signal at {latest}; {side.value} {fmt_money(sized.amount, quote)}",
        amount=sized.amount,
        ind=indicators,
    )
