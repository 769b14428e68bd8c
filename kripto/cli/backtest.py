"""`kripto backtest`: the live strategy and risk code over history (stored, CSV or synthetic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from kripto.backtest import setup
from kripto.backtest.engine import BacktestResult, Costs, run_backtest
from kripto.backtest.report import report, summary
from kripto.backtest.synthetic import REGIMES
from kripto.cli.common import DataDir, console, errors, fail, print_json
from kripto.composition import load_settings, risk_from_settings
from kripto.risk import RiskSettings
from kripto.settings import Settings, SettingsError
from kripto.strategies import Strategy
from kripto.strategies.series import Spaced

if TYPE_CHECKING:
    from kripto.models import Rate

T = TypeVar("T")


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
    return _checked(setup.costs_from, settings, execution)


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
    return _checked(setup.chosen_strategy, settings, name, params)


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
    """The prices as kripto.backtest.setup.load_series reads them; the stored rates through
    the CLI's database connection, a sample's attribution on stderr."""
    import asyncio

    def stored(days: int) -> list[Rate]:
        return asyncio.run(_stored(settings, days))

    def say(text: str) -> None:
        errors.print(text, highlight=False, soft_wrap=True)

    return _checked(
        setup.load_series,
        settings,
        from_db,
        days,
        csv,
        synthetic,
        seed,
        regime,
        sample,
        stored=stored,
        say=say,
    )


def on_bar(series: Spaced, risk: RiskSettings) -> Spaced:
    return _checked(setup.on_bar, series, risk)


PROTECTION_PARAMS = setup.PROTECTION_PARAMS
split_params = setup.split_params


def with_protections(risk: RiskSettings, params: dict[str, str]) -> RiskSettings:
    return _checked(setup.with_protections, risk, params)


def _checked(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A setup step, its SetupError as the one line the command prints."""
    try:
        return step(*args, **kwargs)
    except setup.SetupError as exc:
        raise fail(str(exc)) from None


async def _stored(settings: Settings, days: int) -> list[Rate]:
    """The same query `kripto rates` and the live decider use (RateRepository.since)."""
    from kripto.cli.common import open_database
    from kripto.db.rates import RateRepository

    async with open_database(settings) as db:
        since = datetime.now(UTC) - timedelta(days=days)
        return await RateRepository(db).since(settings.general.products[0], since)
