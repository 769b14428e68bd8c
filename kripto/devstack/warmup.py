"""When `kripto dev` can first decide to trade: the strategy needs a window of minutes of rates
before it gives a signal (rsi: its period and more), and a fresh data folder has none. The
banner says how much is stored, how much is missing, and so when the first automatic decision
that is more than "hold: not enough history" can come."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from kripto.composition import risk_from_settings, strategy_from_settings
from kripto.models import Rate
from kripto.settings import Settings
from kripto.strategies.base import min_points_at
from kripto.strategies.series import minute_grid


def first_decision(settings: Settings, rates: Sequence[Rate], now: datetime) -> str:
    """One line for the banner. `rates` are the stored rates of the decider's window (the last
    week, oldest first). Stored rates count only if they reach up to now without a gap longer
    than the decider accepts (KRIPTO_MAX_GAP); otherwise the window fills from now."""
    strategy = strategy_from_settings(settings.strategy)
    bar = risk_from_settings(settings.risk, settings.strategy).bar_minutes
    need = min_points_at(strategy, bar) * bar
    series = minute_grid(rates)
    gap_limit = timedelta(
        minutes=risk_from_settings(settings.risk, settings.strategy).max_gap_minutes
    )
    usable = series.newest is not None and now - series.newest <= gap_limit
    stored = int(series.prices.size) if usable else 0
    have = min(stored, need)
    missing = need - have
    what = f"{strategy.name} needs {need:,} minutes of rates for {strategy.needs()}"
    if missing <= 0:
        return f"{what}; {stored:,} stored: it can decide from the first tick"
    when = now + timedelta(minutes=missing)
    usable_text = f"{have:,} usable stored" if have else "none usable stored"
    return (
        f"{what}; {usable_text}: first automatic decision about {when:%Y-%m-%d %H:%M} UTC"
        f" (in {_duration(missing)})"
    )


def _duration(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"
