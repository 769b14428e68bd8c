"""Trading strategies: pure, vectorised functions of prices in time order (oldest first).

The live decider takes the signal at the newest point; the backtester uses every point, so
both run the same code."""

from kripto.strategies.base import (
    PARAMETERS,
    STRATEGY_NAMES,
    Evaluation,
    Strategy,
    strategy_from_settings,
)

__all__ = ["PARAMETERS", "STRATEGY_NAMES", "Evaluation", "Strategy", "strategy_from_settings"]
