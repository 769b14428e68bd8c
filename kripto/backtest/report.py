"""A backtest's figures, as JSON (money as strings) or as a rich table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.table import Table

from kripto.backtest.engine import BacktestResult
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
        "protections": result.protections,
        "protectiveExits": result.stop_exits,
        "minutesPerPoint": result.step,
        "maxDrawdown": pct(result.max_drawdown),
        "winningRoundTrips": pct(result.win_rate),
        "roundTrips": result.round_trips,
    }


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
            f" (fee rate {r['feeRate']})",
        ),
        ("protections", f"{result.protections}; {result.stop_exits} protective exits"),
        ("max drawdown", r["maxDrawdown"]),
        ("winning round trips", f"{r['winningRoundTrips'] or 'n/a'} of {r['roundTrips']}"),
    ):
        grid.add_row(name, value)
    return grid
