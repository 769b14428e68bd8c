"""A backtest's (or a sweep's) setup, shared by `kripto backtest` and `kripto optimize`: the
strategy from the settings and the --strategy/--param options, the prices from where they were
asked for (synthetic, CSV, a real sample, the stored rates), on the live decider's bar, the
protections and the costs. A bad option raises SetupError with the one line to print, naming
the option."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from kripto.backtest.csvfile import CsvError, read_series
from kripto.backtest.engine import Costs
from kripto.backtest.synthetic import synthetic_prices
from kripto.composition import strategy_from_settings
from kripto.errors import KriptoError
from kripto.execution import Execution
from kripto.models import Rate
from kripto.risk import RiskSettings
from kripto.settings import RiskSection, Settings, SettingsError
from kripto.strategies import Strategy, build, declaration, strategy_names
from kripto.strategies.series import Spaced, bars, minute_grid, missing_runs


class SetupError(KriptoError):
    """An option that cannot work; the message names it (`--param period: ...`)."""


def costs_from(settings: Settings, execution: str | None) -> Costs:
    """How the backtest fills its orders: KRIPTO_FEE_TIER (or --fee), --execution over
    KRIPTO_EXECUTION, KRIPTO_MAKER_WINDOW and KRIPTO_MAKER_FALLBACK."""
    chosen = settings.execution.execution
    if execution is not None:
        try:
            chosen = Execution(execution)
        except ValueError:
            names = " or ".join(e.value for e in Execution)
            raise SetupError(f"--execution must be {names}, not {execution!r}") from None
    section = settings.execution
    return Costs(settings.exchange.fees, chosen, section.maker_window, section.maker_fallback)


def chosen_strategy(settings: Settings, name: str | None, params: list[str]) -> Strategy:
    """`--strategy` and `--param key=value` over the configured strategy and its parameters
    (the configured values count only for the configured strategy). Errors name the option:
    `--param period: period must be an integer from 2 to 1260, not 'x'`."""
    if name is not None and name not in strategy_names():
        raise SetupError(f"--strategy must be one of {', '.join(strategy_names())}, not {name!r}")
    configured = settings.strategy.strategy
    chosen = name or configured
    if not params and chosen == configured:
        try:
            return strategy_from_settings(settings.strategy)
        except SettingsError as exc:
            raise SetupError(str(exc)) from None
    keys = [p.name for p in declaration(chosen)]
    values: dict[str, str] = settings.strategy.strategy_values() if chosen == configured else {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in keys:
            raise SetupError(f"--param {item!r}: {chosen} takes {', '.join(keys)} as key=value")
        values[key.strip()] = value.strip()
    try:
        return build(chosen, values)
    except ValueError as exc:
        first = str(exc).split(" ", 1)[0]
        where = f"--param {first}" if first in keys else "--strategy/--param"
        raise SetupError(f"{where}: {exc}") from None


def load_series(
    settings: Settings,
    from_db: bool,
    days: int,
    csv: Path | None,
    synthetic: int | None,
    seed: int,
    regime: str,
    sample: str | None = None,
    *,
    stored: Callable[[int], list[Rate]],
    say: Callable[[str], object] = lambda _: None,
) -> Spaced:
    """The prices at their own spacing (a CSV or the sample as its rows are spaced; stored and
    synthetic rates every minute), with which points had a rate of their own. `stored(days)`
    reads the stored rates (the face opens the database); `say` shows a sample's attribution."""
    if synthetic is not None:
        prices = synthetic_prices(synthetic, seed, regime)  # type: ignore[arg-type]
        every = np.ones(prices.size, dtype=np.bool_)
        return Spaced(prices, every, datetime(2026, 1, 1, tzinfo=UTC), 60, 0, 0, 0)
    if sample is not None:
        from kripto.sample import SampleError, series_csv
        from kripto.sample import series as named

        try:
            csv = series_csv(sample, settings.general.data_dir / "samples")
        except SampleError as exc:
            raise SetupError(f"--sample: {exc}") from None
        say(named(sample).attribution)
    if csv is not None:
        try:
            return read_series(csv)
        except CsvError as exc:
            raise SetupError(f"--csv: {exc}") from None
    series = minute_grid(stored(days))
    if series.newest is None:
        raise SetupError(f"--from-db: no rates stored in the last {days} days")
    start = series.newest - timedelta(minutes=series.prices.size - 1)
    runs = missing_runs(series.observed)
    gaps = int(series.observed.size - np.count_nonzero(series.observed))
    return Spaced(series.prices, series.observed, start, 60, gaps, int(np.max(runs)), 0)


def on_bar(series: Spaced, risk: RiskSettings) -> Spaced:
    """Prices finer than the live decider's bar (KRIPTO_BAR) as that bar's closes, as live: a
    backtest of stored minutes sees what the decider sees. Coarser prices stay as they are."""
    if risk.bar_minutes <= series.step_minutes:
        return series
    try:
        return bars(series, risk.bar_minutes)
    except ValueError as exc:
        raise SetupError(f"KRIPTO_BAR: {exc}") from None


PROTECTION_PARAMS = (
    "stop_loss",
    "trailing_stop",
    "max_drawdown",
    "drawdown_resume",
    "stop_loss_limit",
    "stop_loss_window",
    "stop_loss_pause",
)


def split_params(params: list[str]) -> tuple[list[str], dict[str, str]]:
    """--param items for the strategy, and those that set a protection."""
    mine: dict[str, str] = {}
    rest: list[str] = []
    for item in params:
        key, sep, value = item.partition("=")
        if sep and key.strip() in PROTECTION_PARAMS:
            mine[key.strip()] = value.strip()
        else:
            rest.append(item)
    return rest, mine


def with_protections(risk: RiskSettings, params: dict[str, str]) -> RiskSettings:
    """The guards with --param protections over the configured ones (checked as the risk
    section checks them)."""
    if not params:
        return risk
    try:
        checked = RiskSection.model_validate(params)
    except ValidationError as exc:  # one line naming the parameter
        error = exc.errors()[0]
        raise SetupError(f"--param {error['loc'][0]}: {error['msg']}") from None
    values = {k: getattr(checked, k) for k in params}
    return replace(risk, protections=replace(risk.protections, **values))
