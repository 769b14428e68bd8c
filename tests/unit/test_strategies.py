"""Indicators against pandas (an independent reference, test-only), signal semantics, the
oldest-first order, gaps, and no look-ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from kripto.composition import strategy_from_settings
from kripto.models import Rate
from kripto.settings import Settings, SettingsError
from kripto.strategies.base import BUY, SELL, Strategy, reversion_edge
from kripto.strategies.ema_cross import EmaCross
from kripto.strategies.indicators import ema, ema_span, rolling_mean_std, rsi
from kripto.strategies.rsi import Rsi
from kripto.strategies.series import minute_grid
from kripto.strategies.zscore import ZScore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def walk(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 60000.0 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))


@pytest.mark.parametrize("span", [2, 9, 360, 2880])
def test_ema_matches_pandas_ewm(span: int) -> None:
    prices = walk(20_000)
    expected = pd.Series(prices).ewm(span=span, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(ema_span(prices, span), expected, rtol=1e-9)


def test_rolling_mean_and_std_match_pandas() -> None:
    prices = walk(5_000)
    mean, std = rolling_mean_std(prices, 240)
    series = pd.Series(prices).rolling(240)
    np.testing.assert_allclose(mean, series.mean().to_numpy(), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(std, series.std(ddof=0).to_numpy(), rtol=1e-6, equal_nan=True)


def test_rsi_matches_wilder_smoothing_in_pandas() -> None:
    prices = walk(3_000)
    change = pd.Series(prices).diff()
    gain = change.clip(lower=0).iloc[1:].ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-change.clip(upper=0)).iloc[1:].ewm(alpha=1 / 14, adjust=False).mean()
    expected = 100 - 100 / (1 + gain / loss)
    np.testing.assert_allclose(rsi(prices, 14)[1:], expected.to_numpy(), rtol=1e-9)


def test_ema_of_a_constant_is_the_constant() -> None:
    np.testing.assert_allclose(ema(np.full(100, 5.0), 0.1), np.full(100, 5.0))


def test_ema_cross_buys_when_short_crosses_above_long_at_the_newest_point() -> None:
    prices = np.array([100.0] * 10 + [110.0])
    evaluation = EmaCross(2, 5).evaluate(prices)
    assert evaluation.signals.tolist() == [0] * 10 + [BUY]
    falling = np.array([100.0] * 10 + [90.0])
    assert EmaCross(2, 5).evaluate(falling).signals[-1] == SELL


def test_prices_must_be_oldest_first_reversed_prices_give_the_opposite_signal() -> None:
    """The original read rates newest first and ran its EMAs backwards; here a rise at the end
    (oldest first) is a buy, and the same list reversed is not."""
    rising_at_end = np.array([100.0] * 20 + [120.0])
    strategy = EmaCross(2, 5)
    assert strategy.evaluate(rising_at_end).signals[-1] == BUY
    assert strategy.evaluate(rising_at_end[::-1].copy()).signals[-1] != BUY


def test_minute_grid_sorts_by_time_and_forward_fills_gaps() -> None:
    def rate(minute: int, price: str) -> Rate:
        return Rate(
            rate=Decimal(price), date_time=T0 + timedelta(minutes=minute), source="simulated"
        )

    shuffled = [rate(3, "13"), rate(0, "10"), rate(1, "11")]  # minute 2 is missing
    series = minute_grid(shuffled)
    assert series.prices.tolist() == [10.0, 11.0, 11.0, 13.0]
    assert series.observed.tolist() == [True, True, False, True]
    assert series.newest == T0 + timedelta(minutes=3)
    within = [
        rate(0, "10"),
        Rate(rate=Decimal("12"), date_time=T0 + timedelta(seconds=30), source="simulated"),
    ]
    assert minute_grid(within).prices.tolist() == [12.0]  # the last rate of a minute stands for it


STRATEGIES: list[Strategy] = [EmaCross(30, 120), ZScore(120, 1.5), Rsi(30, 35, 65)]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.name)
def test_appending_future_points_never_changes_an_earlier_signal(strategy: Strategy) -> None:
    prices = walk(6_000, seed=3)
    full = strategy.evaluate(prices)
    for cut in (500, 2_000, 4_321):
        partial = strategy.evaluate(prices[:cut].copy())
        np.testing.assert_array_equal(partial.signals, full.signals[:cut])
    assert np.count_nonzero(full.signals) > 0


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.name)
def test_no_signal_before_the_indicators_are_warm(strategy: Strategy) -> None:
    signals = strategy.evaluate(walk(3_000, seed=11)).signals
    assert not signals[: strategy.min_points() - 1].any()


def test_zscore_buys_on_a_drop_and_sells_on_a_spike() -> None:
    base = 100.0 + np.sin(np.arange(200) / 3.0)
    drop = np.concatenate([base, [80.0]])
    spike = np.concatenate([base, [120.0]])
    assert ZScore(50, 2.0).evaluate(drop).signals[-1] == BUY
    assert ZScore(50, 2.0).evaluate(spike).signals[-1] == SELL


def test_parameters_are_checked_with_readable_messages() -> None:
    with pytest.raises(ValueError, match="must be at least 2 and less than the long span"):
        EmaCross(500, 400)
    with pytest.raises(ValueError, match="must fit in half a week"):
        EmaCross(60, 6000)
    with pytest.raises(ValueError, match="0 < low"):
        Rsi(14, 80, 20)


def test_strategies_are_built_from_their_settings() -> None:
    ema = strategy_from_settings(
        Settings(strategy="ema_cross", ema_short_minutes=60, ema_long_minutes=720).strategy
    )
    assert (ema.name, ema.params()) == ("ema_cross", {"short": "60", "long": "720"})
    z = strategy_from_settings(
        Settings(strategy="zscore", zscore_window=300, zscore_threshold=1.5).strategy
    )
    assert (z.name, z.params()) == ("zscore", {"window": "300", "threshold": "1.5"})
    r = strategy_from_settings(
        Settings(strategy="rsi", rsi_period=60, rsi_low=30, rsi_high=70).strategy
    )
    assert (r.name, r.params()) == ("rsi", {"period": "60", "low": "30.0", "high": "70.0"})
    assert (
        strategy_from_settings(Settings(_env_file=None).strategy).name == "dca"
    )  # the default, by the rule in docs/strategies.md (tests/unit/test_strategy_table.py)


def test_bad_strategy_settings_stop_start_up_with_the_rule() -> None:
    """Settings know no strategy; the composition root checks them against the declaration
    and names the setting the bad value came from."""
    with pytest.raises(SettingsError) as exc:
        strategy_from_settings(Settings(strategy="ema_cross", ema_long_minutes=10_080).strategy)
    assert str(exc.value) == (
        "KRIPTO_EMA_LONG_MINUTES: long must be a duration from 3m to 84h (such as 4h;"
        " a bare number is minutes),"
        " not '10080'"
    )
    with pytest.raises(SettingsError) as exc:
        strategy_from_settings(Settings(strategy="zscore", strategy_params="window=5").strategy)
    assert str(exc.value) == (
        "KRIPTO_STRATEGY_PARAMS (zscore): window must be a duration from 10m to 84h (such as 4h;"
        " a bare number is minutes),"
        " not '5'"
    )
    with pytest.raises(SettingsError) as exc:
        strategy_from_settings(
            Settings(strategy="ema_cross", strategy_params="short=900,long=100").strategy
        )
    assert str(exc.value) == (
        "KRIPTO_STRATEGY_PARAMS (ema_cross): the short EMA span (900) must be at least 2 and"
        " less than the long span (100)"
    )
    with pytest.raises(SettingsError) as exc:
        strategy_from_settings(Settings(strategy="magic").strategy)
    assert str(exc.value) == (
        "KRIPTO_STRATEGY: unknown strategy 'magic'; choose one of dca, ema_cross, rsi, zscore"
    )
    with pytest.raises(SettingsError) as exc:
        strategy_from_settings(Settings(strategy="rsi", strategy_params="speed=9").strategy)
    assert str(exc.value) == (
        "KRIPTO_STRATEGY_PARAMS (rsi): rsi has no parameter 'speed'; it takes period, low, high"
    )
    with pytest.raises(ValidationError, match="'period' is not name=value"):
        Settings(strategy_params="period")


def test_strategy_params_win_over_the_older_names() -> None:
    settings = Settings(strategy="rsi", rsi_period=60, rsi_low=30, strategy_params="low=35")
    assert strategy_from_settings(settings.strategy).params() == {
        "period": "60",
        "low": "35.0",
        "high": "60.0",
    }


def test_the_expected_edge_of_each_strategy() -> None:
    """The edge is what a signal expects to gain, so it is signed: positive when the price is
    on the side the signal bets on, negative (and refused by the fee guard) when it is not."""
    prices = np.array([100.0, 102.0, 98.0, 100.0, 110.0])
    # zscore: |z| * std / mean = |price - mean| / mean over the window; the jump sells.
    zscore = ZScore(10, 1.0).evaluate(np.concatenate([np.full(6, 100.0), prices]))
    mean = (5 * 100.0 + 100 + 102 + 98 + 100 + 110) / 10  # 101.0 over the last 10 points
    assert zscore.signals[-1] == SELL
    assert zscore.edge[-1] == pytest.approx(9.0 / mean, rel=1e-12)
    assert zscore.indicators["mean"][-1] == pytest.approx(mean, rel=1e-12)
    # rsi: the way back to the mean over four periods; the jump is overbought, a sell.
    rsi_eval = Rsi(2, 30, 70).evaluate(np.concatenate([np.full(3, 100.0), prices]))
    last_eight = np.concatenate([np.full(3, 100.0), prices])[-8:]
    assert rsi_eval.signals[-1] == SELL
    assert rsi_eval.edge[-1] == pytest.approx((110.0 - last_eight.mean()) / last_eight.mean())
    # ema_cross: the long EMA's move over its span (from the first point while younger), up
    # for a buy and down for a sell; no signal in its warm-up of two long spans.
    flat_then_moves = np.concatenate([np.full(5, 100.0), prices[1:]])
    ema_eval = EmaCross(2, 3).evaluate(flat_then_moves)
    long = pd.Series(flat_then_moves).ewm(span=3, adjust=False).mean().to_numpy()
    trend = (long - np.concatenate([[long[0]] * 3, long[:-3]])) / long
    assert ema_eval.signals.tolist() == [0, 0, 0, 0, 0, BUY, SELL, 0, BUY]
    np.testing.assert_allclose(ema_eval.edge[[5, 6, 8]], [trend[5], -trend[6], trend[8]])
    # The sell at index 6 came as the long EMA fell: the move it bets on, a positive edge.
    assert trend[6] < 0 < ema_eval.edge[6]


def test_a_signal_against_its_own_bet_has_a_negative_edge() -> None:
    """A buy with the price above its mean expects to lose the way back to the mean."""
    prices = np.array([100.0, 100.0, 100.0, 100.0, 120.0, 110.0])
    mean = np.full(prices.size, 105.0)
    buys = np.full(prices.size, BUY, dtype=np.int8)
    assert reversion_edge(prices, mean, buys)[-1] == pytest.approx(-5.0 / 105.0)
    sells = np.full(prices.size, SELL, dtype=np.int8)
    assert reversion_edge(prices, mean, sells)[-1] == pytest.approx(5.0 / 105.0)
