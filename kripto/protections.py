"""Protections: rules over the position and the account that act whatever the strategy says.
Pure, and the same code in the live decider and the backtester.

- a stop-loss: sell the position when the price falls `stop_loss` below its average entry;
- a trailing stop: sell it when the price falls `trailing_stop` below its highest since entry;
- a drawdown guard: no buys once the account's value is `max_drawdown` below its peak, until it
  recovers to within `drawdown_resume` of the peak (or someone resumes: the peak is reset);
- a stop-loss guard: after `stop_loss_limit` stop-loss exits within `stop_loss_window`, no buys
  in that market for `stop_loss_pause`.

Every decision a protection causes says which one and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

#: The reasons' first words, which the stop-loss guard counts in past decisions.
STOP_LOSS = "stop-loss"
TRAILING_STOP = "trailing stop"


@dataclass(frozen=True)
class Protections:
    stop_loss: Decimal | None = None
    trailing_stop: Decimal | None = None
    max_drawdown: Decimal | None = None
    #: Buying resumes when the drawdown is back below this (default: half of max_drawdown).
    drawdown_resume: Decimal | None = None
    stop_loss_limit: int | None = None
    stop_loss_window: timedelta = timedelta(days=1)
    stop_loss_pause: timedelta = timedelta(days=1)

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (self.stop_loss, self.trailing_stop, self.max_drawdown, self.stop_loss_limit)
        )

    def resume_below(self) -> Decimal:
        assert self.max_drawdown is not None
        return self.drawdown_resume if self.drawdown_resume is not None else self.max_drawdown / 2

    def label(self) -> str:
        parts = []
        if self.stop_loss is not None:
            parts.append(f"stop {_pct(self.stop_loss)}")
        if self.trailing_stop is not None:
            parts.append(f"trail {_pct(self.trailing_stop)}")
        if self.max_drawdown is not None:
            parts.append(f"max drawdown {_pct(self.max_drawdown)}")
        if self.stop_loss_limit is not None:
            parts.append(f"{self.stop_loss_limit} stops pause")
        return ", ".join(parts) or "none"


def _pct(value: Decimal | float) -> str:
    return f"{float(value):.1%}".replace(".0%", "%")


@dataclass
class ProtectionState:
    """What the protections look at, for one market: the position's average entry price
    (None when nothing is held) and its highest price since entry; the account's peak value and
    whether the drawdown guard holds buys; when the recent stop-loss exits were."""

    entry_price: Decimal | None = None
    peak_price: Decimal | None = None
    equity_peak: Decimal | None = None
    halted: bool = False
    stop_losses: list[datetime] = field(default_factory=list)


def exit_reason(rules: Protections, state: ProtectionState, price: Decimal) -> str | None:
    """Why the position must be sold now (stop-loss or trailing stop), or None."""
    entry = state.entry_price
    if entry is None or entry <= 0:
        return None
    if rules.stop_loss is not None and price <= entry * (1 - rules.stop_loss):
        fall = 1 - price / entry
        return (
            f"{STOP_LOSS}: price {price} is {_pct(fall)} below the entry"
            f" {entry.quantize(Decimal('0.01'))} (stop at {_pct(rules.stop_loss)})"
        )
    peak = state.peak_price
    if rules.trailing_stop is not None and peak and price <= peak * (1 - rules.trailing_stop):
        fall = 1 - price / peak
        return (
            f"{TRAILING_STOP}: price {price} is {_pct(fall)} below its high since entry {peak}"
            f" (trail {_pct(rules.trailing_stop)})"
        )
    return None


def update_drawdown(rules: Protections, state: ProtectionState, equity: Decimal) -> None:
    """Track the account's peak, and trip or release the drawdown guard."""
    if state.equity_peak is None or equity > state.equity_peak:
        state.equity_peak = equity
    if rules.max_drawdown is None or not state.equity_peak:
        return
    drawdown = 1 - equity / state.equity_peak
    if drawdown >= rules.max_drawdown:
        state.halted = True
    elif state.halted and drawdown <= rules.resume_below():
        state.halted = False


def buy_block(
    rules: Protections, state: ProtectionState, equity: Decimal, now: datetime
) -> str | None:
    """Why no buy may be made now (the drawdown guard or the stop-loss guard), or None."""
    if rules.max_drawdown is not None and state.halted and state.equity_peak:
        drawdown = 1 - equity / state.equity_peak
        return (
            f"drawdown guard: the account is {_pct(drawdown)} below its peak"
            f" (limit {_pct(rules.max_drawdown)}); buying resumes below"
            f" {_pct(rules.resume_below())} or with `kripto protections resume`"
        )
    if rules.stop_loss_limit is not None:
        recent = stops_within(state.stop_losses, now, rules.stop_loss_window)
        if len(recent) >= rules.stop_loss_limit:
            until = recent[0] + rules.stop_loss_pause
            if now < until:
                return (
                    f"stop-loss guard: {len(recent)} stop-losses within"
                    f" {_hours(rules.stop_loss_window)}; paused until {until:%Y-%m-%d %H:%M} UTC"
                )
    return None


def stops_within(stops: Sequence[datetime], now: datetime, window: timedelta) -> list[datetime]:
    """The stop-loss exits in the window before now, newest first."""
    return sorted((t for t in stops if now - window < t <= now), reverse=True)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g}h"
