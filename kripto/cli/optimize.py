"""`kripto optimize`: sweep a strategy's parameter grid over history with the live strategy and
guard code, optionally walk-forward (choose on one span, report the next)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kripto.backtest.optimize import (
    GridError,
    Market,
    Sweep,
    WalkForward,
    parameter_sets,
    parse_grid,
    sweep,
    walk_forward,
)
from kripto.backtest.report import pct
from kripto.cli.backtest import Sample, _risk, load_series, on_bar, run_options
from kripto.cli.common import DataDir, console, fail, print_json
from kripto.money import PENNY
from kripto.settings import Settings
from kripto.strategies.base import min_points_at
from kripto.strategies.series import fmt_step


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)


def optimize(
    grid: Annotated[
        str, typer.Option(help="name=start:stop:step,… e.g. period=120:480:60,low=25:45:5.")
    ],
    strategy: Annotated[str | None, typer.Option(help="A strategy (docs/strategies.md).")] = None,
    from_db: Annotated[bool, typer.Option("--from-db", help="Use stored rates.")] = False,
    days: Annotated[int, typer.Option(help="With --from-db: days back.", min=1)] = 30,
    csv: Annotated[Path | None, typer.Option(help="CSV of time,price.")] = None,
    sample: Sample = None,
    synthetic: Annotated[int | None, typer.Option(help="Days of synthetic prices.", min=1)] = None,
    seed: Annotated[int, typer.Option(help="Seed for --synthetic.")] = 1,
    regime: Annotated[str, typer.Option(help="up, down, sideways, volatile or mix.")] = "mix",
    walk_forward_folds: Annotated[
        int | None,
        typer.Option("--walk-forward", help="Folds: choose on a span, test on the next.", min=1),
    ] = None,
    top: Annotated[int, typer.Option(help="How many of the best sets to show.", min=1)] = 10,
    fee: Annotated[
        str | None,
        typer.Option(help="maker, taker or a rate [default: KRIPTO_FEE_TIER's taker, 0.012]."),
    ] = None,
    gbp: Annotated[str, typer.Option(help="Starting GBP.")] = "1000",
    plot: Annotated[Path | None, typer.Option(help="Write a return heatmap PNG here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Sweep a parameter grid over history with the live strategy, guards and fees.

    Every set is a full backtest (the same figures `kripto backtest --param` gives); indicators
    shared between sets are computed once. With --walk-forward N the history is cut into N+1
    spans: each fold picks the best set on one span and reports it on the next, unseen one."""
    settings, start_gbp = run_options(from_db, csv, synthetic, regime, gbp, fee, data_dir, sample)
    name = strategy or settings.strategy.strategy
    try:
        parsed = parse_grid(name, grid)
        strategies, refused = parameter_sets(name, parsed)
    except GridError as exc:
        raise fail(str(exc)) from None
    series = on_bar(
        load_series(settings, from_db, days, csv, synthetic, seed, regime, sample), _risk(settings)
    )
    prices, start, observed = series.prices, series.start, series.observed
    market = Market(
        prices,
        start,
        observed,
        _risk(settings),
        settings.exchange.taker_fee,
        start_gbp,
        series.step_minutes,
    )
    if plot is not None and len([v for v in parsed.values() if len(v) > 1]) < 2:
        raise fail("--plot: the heatmap needs two parameters with more than one value in --grid")
    result = sweep(market, strategies, refused=refused)
    folds = None
    if walk_forward_folds is not None:
        span = prices.size // (walk_forward_folds + 1)
        longest = max(min_points_at(s, market.step) for s in strategies)
        if span <= longest:
            unit = fmt_step(market.step * 60)
            raise fail(
                f"--walk-forward {walk_forward_folds}: each span would be {span:,} bars of"
                f" {unit} ({duration(span, market.step)}), and the grid's slowest set needs"
                f" {longest:,} ({duration(longest, market.step)}) before its first signal"
            )
        folds = walk_forward(market, name, parsed, walk_forward_folds)
    if plot is not None:
        from kripto.backtest.plot import plot_heatmap

        plot_heatmap(result, parsed, name, plot, current=_current(settings, name))
    if as_json:
        print_json(_json(name, result, folds, top, start, market))
        return
    console.print(_table(name, result, top))
    if refused:
        console.print(f"{refused} sets broke the strategy's own rules and were skipped")
    if folds is not None:
        console.print(_fold_table(folds, start))
        _verdict(folds)
    if plot is not None:
        console.print(f"heatmap: {plot}")


def _current(settings: Settings, name: str) -> dict[str, object]:
    """The parameters Kripto runs `name` with: the settings' own for the configured strategy,
    the strategy's defaults for another."""
    from kripto.composition import strategy_from_settings
    from kripto.strategies.registry import build

    strategy = (
        strategy_from_settings(settings.strategy)
        if name == settings.strategy.strategy
        else build(name, {})
    )
    return dict(strategy.params())


def _json(
    name: str, result: Sweep, folds: WalkForward | None, top: int, start: Any, market: Market
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "strategy": name,
        "sets": len(result.results),
        "refused": result.refused,
        "points": int(market.prices.size),
        "feeRate": str(market.fee_rate),
        "buyAndHoldReturn": pct(result.buy_and_hold),
        "dailyDcaReturn": pct(result.dca),
        "best": [r.as_json() for r in result.results[:top]],
    }
    if folds is not None:
        out["walkForward"] = {
            "folds": [f.as_json(start, folds.step) for f in folds.folds],
            "inSampleMean": pct(folds.in_sample_mean),
            "outOfSampleMean": pct(folds.out_of_sample_mean),
            "overstatement": pct(folds.overstatement),
            "overfit": folds.overfit,
        }
    return out


def _table(name: str, result: Sweep, top: int) -> Table:
    table = Table(
        title=f"{name}: best {min(top, len(result.results))} of {len(result.results)} sets"
        f" (buy and hold {pct(result.buy_and_hold)}, daily DCA {pct(result.dca)})",
        title_justify="left",
    )
    for column in ("params", "return", "trades", "fees GBP", "max drawdown", "win rate"):
        table.add_column(column, justify="left" if column == "params" else "right")
    for r in result.results[:top]:
        table.add_row(
            " ".join(f"{k}={v}" for k, v in r.params.items()),
            pct(r.total_return),
            str(r.trades),
            str(r.fees.quantize(PENNY)),
            pct(r.max_drawdown),
            pct(r.win_rate) or "-",
        )
    return table


def duration(points: int, step: int) -> str:
    """Points `step` minutes apart as a real duration: `73 d`, `19 h`, `45 min`."""
    minutes = points * step
    for size, unit in ((1440, "d"), (60, "h")):
        if minutes >= 2 * size:
            return f"{minutes / size:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{minutes:,} min"


def _fold_table(folds: WalkForward, start: datetime) -> Table:
    table = Table(title="Walk-forward: out-of-sample results only", title_justify="left")
    for column in (
        "fold",
        "test span",
        "chosen on the span before",
        "in-sample",
        "out-of-sample",
        "trades",
        "buy and hold",
        "daily DCA",
    ):
        table.add_column(
            column, justify="right" if column != "chosen on the span before" else "left"
        )
    for number, fold in enumerate(folds.folds, 1):
        first = start + timedelta(minutes=fold.test[0] * folds.step)
        last = start + timedelta(minutes=(fold.test[1] - 1) * folds.step)
        table.add_row(
            str(number),
            f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
            f" (span {duration(fold.test[1] - fold.test[0], folds.step)})",
            " ".join(f"{k}={v}" for k, v in fold.chosen.items()),
            pct(fold.in_sample.total_return),
            pct(fold.out_of_sample.total_return),
            str(fold.out_of_sample.trades),
            pct(fold.buy_and_hold),
            pct(fold.dca),
        )
    return table


def _verdict(folds: WalkForward) -> None:
    line = (
        f"in-sample mean {pct(folds.in_sample_mean)}, out-of-sample mean"
        f" {pct(folds.out_of_sample_mean)}: the sweep overstates by"
        f" {pct(folds.overstatement)} per span"
    )
    console.print(line, highlight=False)
    if folds.overfit:
        console.print(
            "[yellow]warning: overfitting: the best in-sample sets did much worse on the span"
            " after; do not trust the sweep's best figure[/yellow]"
        )
