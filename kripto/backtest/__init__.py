"""The backtester: the live strategy and risk code, minute by minute, with the paper exchange's
fee arithmetic and no look-ahead."""

from kripto.backtest.engine import BacktestResult, run_backtest

__all__ = ["BacktestResult", "run_backtest"]
