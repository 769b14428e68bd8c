"""`kripto backtest`: the live strategy and risk code over history (stored, CSV or synthetic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from kripto.backtest.csvfile import CsvError, read_series
from kripto.backtest.engine import BacktestResult, Costs, run_backtest
from kripto.backtest.report import report, summary
from kripto.backtest.synthetic import REGIMES, synthetic_prices
from kripto.cli.common import DataDir, console, errors, fail, print_json
from kripto.composition import load_settings, risk_from_settings, strategy_from_settings
from kripto.execution import Execution
from kripto.risk import RiskSettings
from kripto.settings import Settings, SettingsError
from kripto.strategies import Strategy, build, declaration, strategy_names
from kripto.strategies.series import Spaced, bars, minute_grid, missing_runs

if TYPE_CHECKING:
    from kripto.models import Rate


#: `--sample NAME`: a real series (`kripto history sample --list`); `--sample` alone is the
#: Coinbase hourly sample (kripto.cli.main gives a bare `--sample` that name).
Sample = Annotated[
    str | None,
    typer.Option(
        "--sample",
        help="A real series by name (kripto history sample --list); alone, coinbase-btcusd-1h.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)


def backtest(
    from_db: Annotated[bool, typer.Option("--from-db", help="Use stored rates.")] = False,
    days: Annotated[int, typer.Option(help="With --from-db: days back.", min=1)] = 7,
    csv: Annotated[Path | None, typer.Option(help="CSV of time,price.")] = None,
    sample: Sample = None,
    synthetic: Annotated[int | None, typer.Option(help="Days of synthetic prices.", min=1)] = None,
    seed: Annotated[int, typer.Option(help="Seed for --synthetic.")] = 1,
    regime: Annotated[str, typer.Option(help="up, down, sideways, volatile or mix.")] = "mix",
    strategy: Annotated[str | None, typer.Option(help="A strategy (docs/strategies.md).")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="key=value, e.g. short=6h; or a protection, e.g. stop_loss=0.1."),
    ] = None,
    fee: Annotated[
        str | None,
        typer.Option(
            help="maker, taker or a rate: one flat rate for every fill [default:"
            " KRIPTO_FEE_TIER's maker and taker rates, 0.006/0.012, each fill paying its own]."
        ),
    ] = None,
    gbp: Annotated[str, typer.Option(help="Starting GBP.")] = "1000",
    plot: Annotated[Path | None, typer.Option(help="Write a PNG chart here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
    execution: Annotated[
        str | None,
        typer.Option(
            help="maker_first or taker (docs/backtesting.md)"
            " [default: KRIPTO_EXECUTION, maker_first]."
        ),
    ] = None,
) -> None:
    """Replay history at its own resolution with the live strategy, guards and fees.

    The guards are the configured ones (KRIPTO_DAILY_SPEND_LIMIT_GBP, KRIPTO_COOLDOWN, …), so a
    backtest trades as the live decider would."""
    settings, start_gbp = run_options(from_db, csv, synthetic, regime, gbp, fee, data_dir, sample)
    strategy_params, protection_params = split_params(param or [])
    model = chosen_strategy(settings, strategy, strategy_params)
    costs = costs_from(settings, execution)
    risk = with_protections(_risk(settings), protection_params)
    series = on_bar(
        load_series(settings, from_db, days, csv, synthetic, seed, regime, sample), risk
    )
    prices, start, observed = series.prices, series.start, series.observed
    (errors if as_json else console).print(f"prices: {series.describe()}", highlight=False)

    def backtest(on_progress: Callable[[int, int], None] | None = None) -> BacktestResult:
        return run_backtest(
            prices,
            model,
            risk,
            costs=costs,
            gbp=start_gbp,
            start=start,
            observed=observed,
            on_progress=on_progress,
            step=series.step_minutes,
        )

    if console.is_terminal and prices.size > 100_000 and not as_json:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("backtesting", total=None)
            result = backtest(
                lambda done, total: progress.update(task, completed=done, total=total)
            )
    else:
        result = backtest()
    if plot is not None:
        from kripto.backtest.plot import plot_backtest

        plot_backtest(result, prices, plot, model)
    if as_json:
        print_json(report(result))
        return
    console.print(summary(result))
    if plot is not None:
        console.print(f"chart: {plot}")


def run_options(
    from_db: bool,
    csv: Path | None,
    synthetic: int | None,
    regime: str,
    gbp: str,
    fee: str | None,
    data_dir: Path | None,
    sample: str | None = None,
) -> tuple[Settings, Decimal]:
    """The options `kripto backtest` and `kripto optimize` share, checked in one place: one
    source of prices, a known regime, a positive --gbp; the settings with --fee applied
    (`maker` or `taker`: that rate of KRIPTO_FEE_TIER; a number: that flat rate)."""
    if sum([from_db, csv is not None, synthetic is not None, sample is not None]) != 1:
        raise fail("choose exactly one of --from-db, --csv FILE, --sample or --synthetic DAYS")
    if regime not in (*REGIMES, "mix"):
        raise fail(f"--regime must be one of {', '.join((*REGIMES, 'mix'))}, not {regime!r}")
    start_gbp = _decimal("--gbp", gbp, "a positive amount of GBP, e.g. 1000")
    if start_gbp <= 0:
        raise fail(f"--gbp must be a positive amount of GBP, e.g. 1000, not {gbp!r}")
    overrides: dict[str, object] = {} if data_dir is None else {"data_dir": data_dir}
    if fee is not None and fee in ("maker", "taker"):
        settings = _settings(overrides)
        overrides["fee_rate"] = settings.exchange.fees.rate(fee)
    elif fee is not None:
        overrides["fee_rate"] = _decimal("--fee", fee, "maker, taker or a fraction such as 0.006")
    return _settings(overrides), start_gbp


def costs_from(settings: Settings, execution: str | None) -> Costs:
    """How the backtest fills its orders: KRIPTO_FEE_TIER (or --fee), --execution over
    KRIPTO_EXECUTION, KRIPTO_MAKER_WINDOW and KRIPTO_MAKER_FALLBACK."""
    chosen = settings.execution.execution
    if execution is not None:
        try:
            chosen = Execution(execution)
        except ValueError:
            names = " or ".join(e.value for e in Execution)
            raise fail(f"--execution must be {names}, not {execution!r}") from None
    section = settings.execution
    return Costs(settings.exchange.fees, chosen, section.maker_window, section.maker_fallback)


def _decimal(option: str, text: str, rule: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise fail(f"{option} must be {rule}, not {text!r}") from None
    if not value.is_finite():
        raise fail(f"{option} must be {rule}, not {text!r}")
    return value


#: The build ID of an offline command (backtest, optimize): it starts no worker.
OFFLINE_BUILD = "offline"


def _settings(overrides: dict[str, object]) -> Settings:
    """The settings with the command's options on top. A bad one is one line naming the option
    and the setting it stands for: `--fee (KRIPTO_FEE_RATE): …`.

    A backtest or a sweep reports to no Worker Deployment, so it names its own build instead
    of hashing every source file for one (a tenth of a second of a CSV backtest's start)."""
    try:
        return load_settings(**{"build_id": OFFLINE_BUILD, **overrides})
    except SettingsError as exc:
        raise fail(str(exc).replace("KRIPTO_FEE_RATE:", "--fee (KRIPTO_FEE_RATE):")) from None


def _risk(settings: Settings) -> RiskSettings:
    try:
        return risk_from_settings(settings.risk, settings.strategy)
    except SettingsError as exc:
        raise fail(str(exc)) from None


def chosen_strategy(settings: Settings, name: str | None, params: list[str]) -> Strategy:
    """`--strategy` and `--param key=value` over the configured strategy and its parameters
    (the configured values count only for the configured strategy). Errors name the option:
    `--param period: period must be an integer from 2 to 1260, not 'x'`."""
    if name is not None and name not in strategy_names():
        raise fail(f"--strategy must be one of {', '.join(strategy_names())}, not {name!r}")
    chosen = name or settings.strategy.strategy
    if not params and chosen == settings.strategy.strategy:
        try:
            return strategy_from_settings(settings.strategy)
        except SettingsError as exc:
            raise fail(str(exc)) from None
    keys = [p.name for p in declaration(chosen)]
    values: dict[str, str] = (
        settings.strategy.strategy_values() if chosen == settings.strategy.strategy else {}
    )
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in keys:
            raise fail(f"--param {item!r}: {chosen} takes {', '.join(keys)} as key=value")
        values[key.strip()] = value.strip()
    try:
        return build(chosen, values)
    except ValueError as exc:
        first = str(exc).split(" ", 1)[0]
        where = f"--param {first}" if first in keys else "--strategy/--param"
        raise fail(f"{where}: {exc}") from None


def load_series(
    settings: Settings,
    from_db: bool,
    days: int,
    csv: Path | None,
    synthetic: int | None,
    seed: int,
    regime: str,
    sample: str | None = None,
) -> Spaced:
    """The prices at their own spacing (a CSV or the sample as its rows are spaced; stored and
    synthetic rates every minute), with which points had a rate of their own."""
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
            raise fail(f"--sample: {exc}") from None
        errors.print(named(sample).attribution, highlight=False, soft_wrap=True)
    if csv is not None:
        try:
            return read_series(csv)
        except CsvError as exc:
            raise fail(f"--csv: {exc}") from None
    import asyncio

    rates = asyncio.run(_stored(settings, days))
    series = minute_grid(rates)
    if series.newest is None:
        raise fail(f"--from-db: no rates stored in the last {days} days")
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
        raise fail(f"KRIPTO_BAR: {exc}") from None


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
    """The guards with --param protections over the configured ones (checked as settings)."""
    if not params:
        return risk
    try:
        checked = Settings.model_validate(params)
    except Exception as exc:  # pydantic's ValidationError: one line naming the parameter
        from pydantic import ValidationError

        if not isinstance(exc, ValidationError):
            raise
        error = exc.errors()[0]
        raise fail(f"--param {error['loc'][0]}: {error['msg']}") from None
    from dataclasses import replace

    values = {k: getattr(checked.risk, k) for k in params}
    return replace(risk, protections=replace(risk.protections, **values))


async def _stored(settings: Settings, days: int) -> list[Rate]:
    """The same query `kripto rates` and the live decider use (RateRepository.since)."""
    from kripto.cli.common import open_database
    from kripto.db.rates import RateRepository

    async with open_database(settings) as db:
        since = datetime.now(UTC) - timedelta(days=days)
        return await RateRepository(db).since(settings.general.products[0], since)
