"""Trading strategies: pure, vectorised functions of prices in time order (oldest first).

The live decider takes the signal at the newest point; the backtester uses every point, so
both run the same code. Each strategy is one module here (see registry.py)."""

from kripto.strategies.base import Evaluation, Param, Strategy
from kripto.strategies.registry import build, declaration, strategies, strategy_names

__all__ = [
    "Evaluation",
    "Param",
    "Strategy",
    "build",
    "declaration",
    "strategies",
    "strategy_names",
]
