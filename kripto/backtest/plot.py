"""The charts: a backtest (price with the strategy's indicator and buy/sell markers, the
indicator's own panel when it is not a price, and equity against buy-and-hold and DCA, all over
dates), and a sweep's return heatmap over two parameters."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from kripto.backtest.engine import BacktestResult, dca_curve
from kripto.strategies import Strategy
from kripto.strategies.base import evaluate_at
from kripto.strategies.indicators import Floats

if TYPE_CHECKING:
    from kripto.backtest.optimize import Grid, Sweep


def _on_price_scale(line: Floats, prices: Floats) -> bool:
    """An indicator drawn over the price (an EMA, a mean) rather than in a panel of its own."""
    finite = line[np.isfinite(line)]
    if not finite.size:
        return False
    ratio = float(np.median(finite)) / float(np.median(prices))
    return 0.5 < ratio < 2.0


def plot_backtest(
    result: BacktestResult, prices: Floats, path: Path, strategy: Strategy | None = None
) -> None:
    start = np.datetime64(result.start.replace(tzinfo=None), "m")
    when = start + (np.arange(prices.size) * result.step).astype("timedelta64[m]")
    indicators = (
        evaluate_at(strategy, prices, result.step).indicators if strategy is not None else {}
    )
    overlay = {k: v for k, v in indicators.items() if _on_price_scale(v, prices)}
    panel = {k: v for k, v in indicators.items() if k not in overlay}
    rows = 4 if panel else 3
    figure, axes = plt.subplots(
        rows,
        1,
        figsize=(11, 11 if panel else 9),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1.3, 2, 1] if panel else [3, 2, 1]},
    )
    top, bottom, under = axes[0], axes[-2], axes[-1]
    top.plot(when, prices, color="#555555", linewidth=0.7, label="price (GBP)")
    for (name, line), colour in zip(
        overlay.items(), ("#7b3294", "#e66101", "#008837"), strict=False
    ):
        top.plot(when, line, color=colour, linewidth=0.9, label=name)
    for side, marker, colour in (("buy", "^", "#1a9850"), ("sell", "v", "#d73027")):
        points = [
            t.index for t in result.trades if t.fill.side.value == side and t.protection is None
        ]
        top.scatter(when[points], prices[points], marker=marker, color=colour, s=36, label=side)
    stops = [t.index for t in result.trades if t.protection is not None]
    if stops:
        top.scatter(
            when[stops],
            prices[stops],
            marker="X",
            color="#000000",
            s=60,
            label=f"protective exit ({len(stops)})",
            zorder=5,
        )
    top.set_ylabel("BTC-GBP")
    top.legend(loc="upper left", fontsize="small")
    params = " ".join(f"{k}={v}" for k, v in result.params.items())
    top.set_title(f"{result.strategy} ({params}), fee {result.fee_rate}")
    if panel:
        middle = axes[1]
        bands = strategy.bands() if strategy is not None and hasattr(strategy, "bands") else {}
        for name, line in panel.items():
            middle.plot(when, line, color="#2c7bb6", linewidth=0.8, label=name)
            for level, colour in zip(bands.get(name, ()), ("#1a9850", "#d73027"), strict=False):
                middle.axhline(level, color=colour, linestyle="--", linewidth=0.9)
        middle.set_ylabel(", ".join(panel))
        middle.legend(loc="upper left", fontsize="small")
    bottom.plot(when[-result.points :], result.equity, color="#2c7bb6", label="strategy equity")
    bottom.plot(when[-result.points :], result.buy_and_hold, color="#fdae61", label="buy and hold")
    per_day = max(1, 1440 // result.step)
    dca = dca_curve(prices[-result.points :], result.start_gbp, result.fee_rate, per_day)
    bottom.plot(when[-result.points :], dca, color="#abd9e9", label="daily DCA")
    bottom.set_ylabel("GBP")
    bottom.legend(loc="upper left", fontsize="small")
    equity = result.equity
    drawdown = 100 * (1 - equity / np.maximum.accumulate(equity))
    under.fill_between(when[-result.points :], -drawdown, 0, color="#d73027", alpha=0.4)
    under.set_ylabel("drawdown %")
    under.set_title(
        f"strategy drawdown: max {result.max_drawdown:.1%}", fontsize="small", loc="left"
    )
    locator = mdates.AutoDateLocator()
    under.xaxis.set_major_locator(locator)
    under.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def current_cell(xs: list[str], ys: list[str], x: object, y: object) -> tuple[int, int] | None:
    """Where the current setting (x, y) sits on the grid, as numbers (60 is 60.0)."""

    def index(values: list[str], value: object) -> int | None:
        try:
            wanted = Decimal(str(value))
            return next((i for i, v in enumerate(values) if Decimal(v) == wanted), None)
        except InvalidOperation:
            return values.index(str(value)) if str(value) in values else None

    at_x, at_y = index(xs, x), index(ys, y)
    return None if at_x is None or at_y is None else (at_x, at_y)


def plot_heatmap(
    result: Sweep,
    grid: Grid,
    strategy: str,
    path: Path,
    current: Mapping[str, object] | None = None,
) -> None:
    """Total return over the first two parameters of the grid that vary; where others vary
    too, each cell is the best return over them (said in the title). `current`, the setting
    Kripto runs with, is outlined, or named under the plot when the grid does not hold it."""
    varying = [name for name, values in grid.items() if len(values) > 1]
    x_name, y_name = varying[0], varying[1]
    xs = [str(v) for v in grid[x_name]]
    ys = [str(v) for v in grid[y_name]]
    cells = np.full((len(ys), len(xs)), np.nan)
    for r in result.results:
        x, y = xs.index(r.params[x_name]), ys.index(r.params[y_name])
        value = float(r.total_return * 100)
        if np.isnan(cells[y, x]) or value > cells[y, x]:
            cells[y, x] = value
    figure, axis = plt.subplots(figsize=(1.2 + 0.7 * len(xs), 1.5 + 0.5 * len(ys)))
    limit = float(np.nanmax(np.abs(cells))) if np.isfinite(cells).any() else 1.0
    image = axis.imshow(
        cells, origin="lower", cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto"
    )
    axis.set_xticks(range(len(xs)), xs, rotation=45)
    axis.set_yticks(range(len(ys)), ys)
    axis.set_xlabel(x_name)
    axis.set_ylabel(y_name)
    for y in range(len(ys)):
        for x in range(len(xs)):
            if np.isfinite(cells[y, x]):
                axis.text(x, y, f"{cells[y, x]:.1f}", ha="center", va="center", fontsize=7)
    if current is not None:
        cell = current_cell(xs, ys, current.get(x_name), current.get(y_name))
        where = f"current setting {x_name}={current.get(x_name)}, {y_name}={current.get(y_name)}"
        if cell is not None:
            axis.add_patch(
                Rectangle(
                    (cell[0] - 0.5, cell[1] - 0.5), 1, 1, fill=False, edgecolor="black", lw=2.5
                )
            )
            axis.annotate(
                "current", (cell[0], cell[1] + 0.32), ha="center", va="center", fontsize=6
            )
        else:
            figure.text(0.01, 0.01, f"{where}: not on this grid", fontsize=7)
    others = [n for n in varying[2:]]
    best = f", best over {', '.join(others)}" if others else ""
    hold = f"buy and hold {float(result.buy_and_hold * 100):.1f}%"
    axis.set_title(f"{strategy}: total return %{best} ({hold})", fontsize=10)
    figure.colorbar(image, ax=axis, label="return %")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
