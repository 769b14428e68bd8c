"""The backtest chart: price with buy and sell markers, and equity against buy-and-hold."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt
import numpy as np

from kripto.backtest.engine import BacktestResult
from kripto.strategies.indicators import Floats


def plot_backtest(result: BacktestResult, prices: Floats, path: Path) -> None:
    days = np.arange(prices.size) / 1440.0
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    top.plot(days, prices, color="#555555", linewidth=0.7, label="price (GBP)")
    for side, marker, colour in (("buy", "^", "#1a9850"), ("sell", "v", "#d73027")):
        points = [t.index for t in result.trades if t.fill.side.value == side]
        top.scatter(days[points], prices[points], marker=marker, color=colour, s=36, label=side)
    top.set_ylabel("BTC-GBP")
    top.legend(loc="upper left")
    params = " ".join(f"{k}={v}" for k, v in result.params.items())
    top.set_title(f"{result.strategy} ({params}), fee {result.fee_rate}")
    bottom.plot(days, result.equity, color="#2c7bb6", label="strategy equity")
    bottom.plot(days, result.buy_and_hold, color="#fdae61", label="buy and hold")
    bottom.set_xlabel("days")
    bottom.set_ylabel("GBP")
    bottom.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
