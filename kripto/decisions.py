"""The trade decider: from a week of rates, the wallet and recent trades, to buy, sell or hold,
with the indicator values it used and a one-line reason a person can read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from kripto.fees import round_trip_rate
from kripto.models import Action, Decision, Rate, Side, Wallet, currencies
from kripto.money import PENNY, fmt_money, round_down
from kripto.protections import ProtectionState, buy_block, exit_reason, update_drawdown
from kripto.risk import Holdings, PastTrade, RiskSettings, size_trade
from kripto.strategies.base import BUY, SELL, Strategy, evaluate_at, fmt_minutes, min_points_at
from kripto.strategies.series import PriceHistory, Spaced, bars, longest_gap, minute_grid


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
    protection: ProtectionState | None = None,
) -> Decision:
    """`now` is when the decision is made: the real clock live, so a tick decided late (its
    worker was down) holds on stale data; the tick's own time in a backtest. `paused`: the kill
    switch is on. `rates` may be a `PriceHistory` (the live decider reads arrays straight from
    Postgres) or `Rate`s (tests, the CLI).

    With `risk.bar_minutes` above 1 the strategy runs on that bar's closes (aligned to whole
    bars since the epoch), so it sees what a backtest of a series at that spacing sees, and a
    signal counts only at a bar's close. `protection`: the market's position and account state
    for the protections in `risk` (updated here: the account's peak and the drawdown guard)."""
    now = now or tick_time

    def decision(
        action: Action,
        reason: str,
        *,
        amount: Decimal = Decimal(0),
        ind: dict[str, float] | None = None,
        guard: str | None = None,
        base_size: Decimal | None = None,
    ) -> Decision:
        return Decision(
            base_size=base_size,
            decision_id=decision_id,
            product_id=product_id,
            tick_time=tick_time,
            action=action,
            amount=amount,
            strategy=strategy.name,
            params=strategy.params(),
            indicators={k: _fmt(v) for k, v in (ind or {}).items()},
            reason=f"{action}: {reason}",
            protection=guard,
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
    step = risk.bar_minutes
    need = min_points_at(strategy, step) * step
    if prices.size < need:
        return decision("hold", f"{prices.size:,} of {need:,} points needed for {strategy.needs()}")
    longest = longest_gap(series.observed, need)
    if longest > risk.max_gap_minutes:
        return decision(
            "hold",
            f"gap in the rates: {longest:,} minutes in a row without a rate within the last"
            f" {need:,} that {strategy.needs()} uses (limit {risk.max_gap_minutes:,})",
        )
    if isinstance(rates, PriceHistory):
        assert rates.newest_rate is not None  # a history with a newest time has its rate
        latest = rates.newest_rate
    else:
        latest = max(rates, key=lambda r: r.date_time).rate
    base, quote = currencies(product_id)
    holdings = Holdings(gbp=wallet.balance(quote).available, btc=wallet.balance(base).available)
    rules = risk.protections
    equity = holdings.gbp + holdings.btc * latest
    if protection is not None and rules.any:
        if holdings.btc > 0 and protection.entry_price is not None:
            protection.peak_price = max(protection.peak_price or latest, latest)
        update_drawdown(rules, protection, equity)
        exit = exit_reason(rules, protection, latest) if holdings.btc > 0 else None
        amount = round_down(holdings.btc * latest, PENNY)
        selling = [
            t
            for t in recent_trades
            if t.side is Side.SELL
            and t.product_id in (None, product_id)
            and now - t.at < risk.cooldown
        ]
        if exit is not None and amount >= risk.minimum and selling:
            # A sell started within the cooldown (perhaps still in flight) is counted first: the
            # wallet may not show it yet, and the position must not be sold twice.
            return decision("hold", f"{exit}, but a sell is under way or just done (cooldown)")
        if exit is not None and amount >= risk.minimum:  # dust below an order is no position
            guard = exit.split(":", 1)[0]
            # The whole position, in coins: never turned back into coins from a GBP figure at
            # a later (lower) price, which would ask for more than is held.
            return decision(
                "sell",
                f"{exit}; sell {fmt_money(amount, quote)}",
                amount=amount,
                guard=guard,
                base_size=holdings.btc,
            )

    closes = prices
    if step > 1:
        # The grid's minutes are whole minutes (a rate at 10:00:13 stands for 10:00).
        last_minute = newest.replace(second=0, microsecond=0)
        start = last_minute - timedelta(minutes=prices.size - 1)
        closes = bars(Spaced(prices, series.observed, start, 60, 0, 0, 0), step).prices
    evaluation = evaluate_at(strategy, closes, step)
    indicators = {**evaluation.last_indicators(), "edge": float(evaluation.edge[-1])}
    signal = int(evaluation.signals[-1])
    at_close = step == 1 or int(newest.timestamp()) % (step * 60) < 60
    if signal not in (BUY, SELL) or not at_close:
        close = "" if at_close else f"; next {fmt_minutes(step)} close to come"
        return decision("hold", f"{how_close(strategy, indicators)}{close}", ind=indicators)
    side = Side.BUY if signal == BUY else Side.SELL
    gated = edge_gate(
        strategy, indicators, side, float(evaluation.edge[-1]), fee_rate, risk.min_edge
    )
    if gated is not None:
        return decision("hold", gated, ind=indicators)
    if side is Side.BUY and protection is not None and rules.any:
        blocked = buy_block(rules, protection, equity, now)
        if blocked is not None:
            return decision(
                "hold",
                f"{strategy.name} said buy, but {blocked}",
                ind=indicators,
                guard=blocked.split(":", 1)[0],
            )
    every = timedelta(minutes=getattr(strategy, "every", 0))
    if side is Side.BUY and every:
        own = [
            t.at for t in recent_trades if t.side is Side.BUY and t.product_id in (None, product_id)
        ]
        if own and now - max(own) < every:
            since = (now - max(own)).total_seconds() / 60
            return decision(
                "hold",
                f"{strategy.name}: last buy {fmt_minutes(int(since))} ago; buys every"
                f" {fmt_minutes(int(every.total_seconds() // 60))}",
                ind=indicators,
            )
    wanted = None if evaluation.amounts is None else float(evaluation.amounts[-1])
    sized = size_trade(
        side,
        product_id=product_id,
        price=latest,
        holdings=holdings,
        recent_trades=recent_trades,
        now=now,
        edge=float(evaluation.edge[-1]),
        fee_rate=fee_rate,
        risk=risk,
        amount=None if wanted is None else round_down(Decimal(repr(wanted)), PENNY),
    )
    if not sized.ok:
        return decision(
            "hold", f"{strategy.name} said {side.value}, but {sized.reason}", ind=indicators
        )
    whole = side is Side.SELL and sized.amount >= round_down(holdings.btc * latest, PENNY)
    if whole:
        # The strategy's exit sells everything held: sized in coins, as a protection's exit.
        return decision(
            "sell",
            f"{strategy.name} signal at {latest}; sell {fmt_money(sized.amount, quote)}",
            amount=sized.amount,
            ind=indicators,
            base_size=holdings.btc,
        )
    return decision(
        side.value,
        f"{strategy.name} signal at {latest}; {side.value} {fmt_money(sized.amount, quote)}",
        amount=sized.amount,
        ind=indicators,
    )


def edge_gate(
    strategy: Strategy,
    indicators: dict[str, float],
    side: Side,
    edge: float,
    fee_rate: Decimal,
    margin: Decimal,
) -> str | None:
    """Why a strategy's buy or sell does not clear its fees (the hold's reason, without the
    `hold: `), or None when it does: the expected move to the strategy's own target (`edge`:
    back to the mean for zscore and rsi, the long EMA's trend for ema_cross) must exceed the
    round-trip fee at `fee_rate` (the current execution's rate, one side) times `margin`
    (KRIPTO_MIN_EDGE). The live decider and the backtester both ask here; a protective exit
    never does."""
    round_trip = round_trip_rate(fee_rate)
    if Decimal(repr(edge)) > round_trip * margin:
        return None
    says = getattr(strategy, "says", None)
    what = says(indicators) if says is not None else strategy.name
    times = format(margin.normalize(), "f")
    return (
        f"{what} says {side.value}, but the expected move {edge:.2%} does not clear"
        f" {times}× the round-trip fee {float(round_trip):.2%}"  # noqa: RUF001
    )


def how_close(strategy: Strategy, indicators: dict[str, float]) -> str:
    """How far the newest point is from a signal, in the strategy's own terms."""
    closeness = getattr(strategy, "closeness", None)
    if closeness is None:
        return f"no {strategy.name} signal at the newest point"
    text: str = closeness(indicators)
    return text
