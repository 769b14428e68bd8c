"""Synthetic minute prices for four regimes, deterministic per seed."""

from __future__ import annotations

from typing import Literal

import numpy as np

from kripto.strategies.indicators import Floats

Regime = Literal["up", "down", "sideways", "volatile"]
REGIMES: tuple[Regime, ...] = ("up", "down", "sideways", "volatile")
MINUTES_PER_YEAR = 525_600
START_PRICE = 60_000.0


def _log_path(regime: Regime, n: int, rng: np.random.Generator) -> Floats:
    per_minute = np.sqrt(1.0 / MINUTES_PER_YEAR)
    t = np.arange(n, dtype=np.float64)
    if regime == "up":
        return np.cumsum(rng.normal(3.0 / MINUTES_PER_YEAR, 0.4 * per_minute, n))
    if regime == "down":
        return np.cumsum(rng.normal(-3.0 / MINUTES_PER_YEAR, 0.4 * per_minute, n))
    if regime == "sideways":
        wander = np.cumsum(rng.normal(0.0, 0.3 * per_minute, n))
        wander -= np.linspace(0.0, wander[-1], n)  # ends where it began
        cycles = 0.03 * np.sin(2 * np.pi * t / (3 * 1440)) + 0.01 * np.sin(2 * np.pi * t / 420)
        return wander + cycles
    jumps = rng.random(n) < 3.0 / 1440  # about three jumps a day
    jump_sizes = np.where(jumps, rng.normal(0.0, 0.02, n), 0.0)
    return np.cumsum(rng.normal(0.0, 1.5 * per_minute, n) + jump_sizes)


def synthetic_prices(days: int, seed: int, regime: Regime | Literal["mix"] = "mix") -> Floats:
    """`days` of one-minute prices. "mix" runs the four regimes in turn, a quarter each."""
    if days < 1:
        raise ValueError("days must be at least 1")
    rng = np.random.default_rng(seed)
    n = days * 1440
    if regime == "mix":
        parts = np.array_split(np.arange(n), len(REGIMES))
        pieces = [_log_path(r, p.size, rng) for r, p in zip(REGIMES, parts, strict=True)]
        offsets = np.cumsum([0.0] + [piece[-1] for piece in pieces[:-1]])
        log_path = np.concatenate([piece + off for piece, off in zip(pieces, offsets, strict=True)])
    else:
        log_path = _log_path(regime, n, rng)
    prices: Floats = np.round(START_PRICE * np.exp(log_path), 2)
    return prices
