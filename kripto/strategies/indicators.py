"""Indicators over float64 arrays, oldest first. Each value depends only on points before it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

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


_Shared = tuple[Floats, dict[tuple[object, ...], object], dict[int, Floats]]
_SHARED: ContextVar[_Shared | None] = ContextVar("shared_indicators", default=None)


@contextmanager
def shared_indicators(prices: Floats) -> Iterator[None]:
    """Within this block, an indicator of `prices` (or a crossing of such an indicator) is
    computed once per distinct argument and then shared: a parameter sweep runs the very same
    strategy code per set, but the RSI of each period, the EMA of each span, … once. The shared
    arrays are read-only, so no set can change another's."""
    token = _SHARED.set((prices, {}, {}))
    try:
        yield
    finally:
        _SHARED.reset(token)


_F = TypeVar("_F", bound=Callable[..., Any])


def _shared(fn: _F) -> _F:
    """Memoise `fn(values, *args)` inside `shared_indicators` when every array among its
    arguments is the prices or an array this memo made (identity, never equality: an array the
    memo holds keeps its id)."""

    @wraps(fn)
    def wrapper(values: Floats, *args: Any) -> Any:
        state = _SHARED.get()
        if state is None:
            return fn(values, *args)
        prices, memo, made = state
        parts: list[object] = []
        for arg in (values, *args):
            if isinstance(arg, np.ndarray):
                if arg is prices:
                    arg = "prices"
                elif made.get(id(arg)) is arg:
                    arg = id(arg)
                else:
                    return fn(values, *args)  # an array of the caller's own: not shareable
            parts.append(arg)
        key = (fn.__name__, *parts)
        if key not in memo:
            result = fn(values, *args)
            for array in result if isinstance(result, tuple) else (result,):
                array.flags.writeable = False
                made[id(array)] = array
            memo[key] = result
        return memo[key]

    return wrapper  # type: ignore[return-value]


def below_mean(mean: Floats, prices: Floats) -> Floats:
    """How far each price is below its mean, as a fraction of the mean (NaN with no mean)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        below: Floats = (mean - prices) / mean
    return below


below_mean = _shared(below_mean)
ema_span = _shared(ema_span)
rolling_mean_std = _shared(rolling_mean_std)
rsi = _shared(rsi)
crossings = _shared(crossings)
