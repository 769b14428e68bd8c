"""The strategy that decides and its parameters. The strategy and its parameters are checked
against the strategy's own declaration in the composition root (kripto/composition.py): the
settings know no strategy, so a new one needs no field here."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import field_validator
from pydantic_settings import NoDecode

from kripto.settings.base import Section

#: Older setting → (strategy, parameter). Only for names existing .env files already use; a new
#: strategy's parameters live in KRIPTO_STRATEGY_PARAMS alone.
LEGACY_STRATEGY_PARAMS: dict[str, tuple[str, str]] = {
    "ema_short_minutes": ("ema_cross", "short"),
    "ema_long_minutes": ("ema_cross", "long"),
    "zscore_window": ("zscore", "window"),
    "zscore_threshold": ("zscore", "threshold"),
    "rsi_period": ("rsi", "period"),
    "rsi_low": ("rsi", "low"),
    "rsi_high": ("rsi", "high"),
}


class StrategySection(Section):
    """The strategy that decides and its parameters."""

    #: DCA, by the rule in docs/strategies.md: no other strategy beat it out of sample on
    #: return over drawdown in most of the real series and pooled (test_strategy_table.py).
    strategy: str = "dca"
    #: `name=value` pairs, comma-separated (`period=240,low=40,high=60`); unnamed ones default.
    strategy_params: Annotated[dict[str, str], NoDecode] = {}
    #: The older names of the built-in strategies' parameters, still read (as aliases of
    #: KRIPTO_STRATEGY_PARAMS entries, which win) because existing .env files use them.
    ema_short_minutes: int | None = None
    ema_long_minutes: int | None = None
    zscore_window: int | None = None
    zscore_threshold: float | None = None
    rsi_period: int | None = None
    rsi_low: float | None = None
    rsi_high: float | None = None
    #: The live decider runs the strategy on closes this far apart: `1h`, the default, gives
    #: hourly closes, as the backtests of the real hourly sample that chose the default
    #: (docs/strategies.md); `1m` is every minute.
    bar: timedelta = timedelta(hours=1)

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy_name(cls, value: Any) -> Any:
        """Names are case-insensitive: `RSI` and `rsi` are one strategy."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("strategy_params", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            key, sep, text = item.partition("=")
            if not sep or not key.strip() or not text.strip():
                raise ValueError(f"{item!r} is not name=value (e.g. period=240,low=40)")
            pairs[key.strip()] = text.strip()
        return pairs

    def strategy_values(self) -> dict[str, str]:
        """The chosen strategy's parameters as text: the older names first, then
        KRIPTO_STRATEGY_PARAMS over them."""
        values = {
            key: str(getattr(self, field))
            for field, (strategy, key) in LEGACY_STRATEGY_PARAMS.items()
            if strategy == self.strategy and getattr(self, field) is not None
        }
        return values | self.strategy_params
