"""A backtest's figures, as JSON (money as strings) or as a rich table."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from rich.table import Table

from kripto.backtest.engine import BacktestResult
from kripto.execution import Execution
from kripto.money import PENNY, fmt_gbp, plural
from kripto.strategies.base import fmt_minutes


def pct(value: Decimal | float | None) -> str | None:
    return None if value is None else f"{Decimal(repr(float(value))) * 100:.2f}%"


def report(result: BacktestResult) -> dict[str, Any]:
    return {
        "strategy": result.strategy,
        "params": result.params,
        "start": result.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "points": result.points,
        "startGbp": str(result.start_gbp),
        "feeRate": str(result.fee_rate),
        "finalEquity": str(result.final_equity.quantize(PENNY)),
        "totalReturn": pct(result.total_return),
        "buyAndHoldReturn": pct(result.buy_and_hold_return),
        "dailyDcaReturn": pct(result.dca_return),
        "trades": len(result.trades),
        "buys": sum(1 for t in result.trades if t.fill.side.value == "buy"),
        "sells": sum(1 for t in result.trades if t.fill.side.value == "sell"),
        "feesPaid": str(result.fees_paid.quantize(PENNY)),
        "feesShareOfStart": pct(result.fees_share),
        **execution(result),
        "protections": result.protections,
        "protectiveExits": result.stop_exits,
        "minutesPerPoint": result.step,
        "maxDrawdown": pct(result.max_drawdown),
        "winningRoundTrips": pct(result.win_rate),
        "roundTrips": result.round_trips,
    }


def execution(result: BacktestResult) -> dict[str, Any]:
    """How the orders were filled (docs/backtesting.md): the execution, the share of the value
    traded that filled at maker, and the fees saved against paying the taker rate on every
    fill."""
    costs = result.costs
    maker = costs if costs is not None and costs.execution is Execution.MAKER_FIRST else None
    return {
        "execution": result.execution.value,
        "makerFeeRate": None if costs is None else str(costs.fees.maker),
        "takerFeeRate": str(result.fee_rate if costs is None else costs.fees.taker),
        "makerWindow": None if maker is None else fmt_minutes(_minutes(maker.maker_window)),
        "makerFallback": None if maker is None else maker.fallback.value,
        "makerShare": pct(result.maker_share),
        "makerFills": result.maker_fills,
        "takerFills": len(result.trades) - result.maker_fills,
        "makerSkipped": result.skipped,
        "feesSaved": str(result.fees_saved.quantize(PENNY)),
    }


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def table(results: list[BacktestResult], title: str = "Backtest") -> Table:
    grid = Table(
        "strategy",
        "points",
        "return",
        "buy & hold",
        "daily DCA",
        "trades",
        "fees",
        "max drawdown",
        "winning round trips",
        title=title,
    )
    for result in results:
        r = report(result)
        grid.add_row(
            r["strategy"],
            f"{r['points']:,}",
            r["totalReturn"],
            r["buyAndHoldReturn"],
            r["dailyDcaReturn"],
            str(r["trades"]),
            f"£{r['feesPaid']}",
            r["maxDrawdown"],
            f"{r['winningRoundTrips'] or 'n/a'} of {r['roundTrips']}",
        )
    return grid


def _how(result: BacktestResult, r: dict[str, Any]) -> str:
    """`maker_first (2m window, taker fallback): maker share 50.23%, 289 of 581 fills at maker
    (0.6%), 292 at taker (1.2%)`; under skip, how many orders the window left and were
    dropped."""
    taker = _rate(r["takerFeeRate"])
    if r["makerWindow"] is None:
        return f"taker: every fill at the taker rate {taker}"
    share = r["makerShare"] or "n/a"
    skipped = f"; {plural(r['makerSkipped'], 'order')} skipped" if r["makerSkipped"] else ""
    return (
        f"maker_first ({r['makerWindow']} window, {r['makerFallback']} fallback): maker share"
        f" {share}, {r['makerFills']} of {len(result.trades)} fills at maker"
        f" ({_rate(r['makerFeeRate'])}), {r['takerFills']} at taker ({taker}){skipped}"
    )


def _rate(text: str) -> str:
    """`0.006` as `0.6%`."""
    return f"{(Decimal(text) * 100).normalize():f}%"


def summary(result: BacktestResult) -> Table:
    """One backtest as a two-column table, readable in an 80-column terminal."""
    r = report(result)
    params = " ".join(f"{k}={v}" for k, v in result.params.items())
    days = result.points * result.step / 1440
    unit = "minutes" if result.step == 1 else f"points {fmt_minutes(result.step)} apart"
    grid = Table("", "", title=f"Backtest: {result.strategy} ({params})", show_header=False)
    for name, value in (
        ("period", f"{r['start']}, {r['points']:,} {unit} ({days:,.1f} days)"),
        ("start → end", f"{fmt_gbp(result.start_gbp)} → {fmt_gbp(result.final_equity)}"),
        ("total return", r["totalReturn"]),
        ("buy and hold", r["buyAndHoldReturn"]),
        ("daily DCA", r["dailyDcaReturn"]),
        (
            "trades",
            f"{r['trades']} ({plural(r['buys'], 'buy')}, {plural(r['sells'], 'sell')})",
        ),
        (
            "fees paid",
            f"{fmt_gbp(result.fees_paid)}, {r['feesShareOfStart']} of the start"
            f" ({fmt_gbp(result.fees_saved)} saved against all-taker)",
        ),
        ("execution", _how(result, r)),
        ("protections", f"{result.protections}; {result.stop_exits} protective exits"),
        ("max drawdown", r["maxDrawdown"]),
        ("winning round trips", f"{r['winningRoundTrips'] or 'n/a'} of {r['roundTrips']}"),
    ):
        grid.add_row(name, value)
    return grid
