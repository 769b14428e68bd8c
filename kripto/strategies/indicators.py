"""Indicators over float64 arrays, oldest first. Each value depends only on points before it."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]

#: Keep d**-n below this inside a block, so the closed form stays accurate to ~1e-8.
_MAX_GROWTH = 1e8


def ema(values: Floats, alpha: float) -> Floats:
    """Exponential moving average, y[0] = x[0], y[i] = (1-alpha)·y[i-1] + alpha·x[i]
    (pandas' `ewm(alpha=…, adjust=False)`), vectorised in blocks instead of a Python loop:
    within a block, y[i] = d^(i+1)·(s + alpha·Σ x[k]·d^-(k+1)) with d = 1-alpha."""
    if not 0 < alpha <= 1:
        raise ValueError("alpha must be in (0, 1]")
    out = np.empty_like(values, dtype=np.float64)
    if values.size == 0:
        return out
    d = 1.0 - alpha
    if d == 0.0:
        out[:] = values
        return out
    block = max(1, int(math.log(_MAX_GROWTH) / -math.log(d)))
    state = float(values[0])
    for start in range(0, values.size, block):
        chunk = values[start : start + block]
        powers = d ** np.arange(1, chunk.size + 1, dtype=np.float64)
        out[start : start + chunk.size] = powers * (state + alpha * np.cumsum(chunk / powers))
        state = float(out[start + chunk.size - 1])
    return out


def ema_span(values: Floats, span: int) -> Floats:
    return ema(values, 2.0 / (span + 1.0))


def rolling_mean_std(values: Floats, window: int) -> tuple[Floats, Floats]:
    """Rolling mean and population std over `window` points (NaN until the window is full)."""
    n = values.size
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    if n < window:
        return mean, std
    shifted = values - values[0]  # centre first: sums of squares lose less precision
    c1 = np.concatenate(([0.0], np.cumsum(shifted)))
    c2 = np.concatenate(([0.0], np.cumsum(shifted * shifted)))
    s1 = c1[window:] - c1[:-window]
    s2 = c2[window:] - c2[:-window]
    m = s1 / window
    var = np.maximum(s2 / window - m * m, 0.0)
    mean[window - 1 :] = m + values[0]
    std[window - 1 :] = np.sqrt(var)
    return mean, std


def rsi(values: Floats, period: int) -> Floats:
    """Wilder's RSI: gains and losses smoothed with alpha = 1/period. NaN at the first point."""
    out = np.full(values.size, np.nan)
    if values.size < 2:
        return out
    change = np.diff(values)
    gain = ema(np.clip(change, 0.0, None), 1.0 / period)
    loss = ema(np.clip(-change, 0.0, None), 1.0 / period)
    with np.errstate(divide="ignore", invalid="ignore"):
        rs = gain / loss
        out[1:] = np.where(loss == 0.0, 100.0, 100.0 - 100.0 / (1.0 + rs))
    return out


def crossings(line: Floats, level: Floats | float) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Where `line` crosses above / below `level` between the previous point and this one."""
    above = line > level
    below = line < level
    up = np.zeros(line.size, dtype=bool)
    down = np.zeros(line.size, dtype=bool)
    up[1:] = above[1:] & ~above[:-1] & ~np.isnan(line[:-1])
    down[1:] = below[1:] & ~below[:-1] & ~np.isnan(line[:-1])
    return up, down
