"""The strategy table of docs/strategies.md, on the real sample (Coinbase BTC-USD hourly,
2017-07-01 to 2019-10-17; kripto/sample.py), walk-forward: each strategy's parameters are
chosen on the in-sample span (2017-07 to 2018-12) by return over maximum drawdown, then run
unchanged on the out-of-sample span (2019, warmed up on the months before), at the maker and
at the taker fee of the lowest Coinbase tier. Beside them: buy-and-hold, DCA (daily, and with
the dip weighting) and each strategy with the protections on.

    .venv/bin/python -m benchmarks.strategy_table --sample

A test (tests/unit/test_strategy_table.py) checks docs/strategies.md holds this output."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from kripto.backtest.csvfile import read_series
from kripto.backtest.engine import BacktestResult, compute_baselines, run_backtest
from kripto.fees import TIERS
from kripto.protections import Protections
from kripto.risk import RiskSettings
from kripto.sample import sample_csv
from kripto.strategies import Strategy, build, declaration
from kripto.strategies.base import fmt_minutes
from kripto.strategies.series import Spaced

START_GBP = Decimal(10_000)
SPLIT = datetime(2019, 1, 1, tzinfo=UTC)
#: The guards as configured by default, but with a daily limit that lets £10,000 work.
RISK = RiskSettings(daily_spend_limit_gbp=Decimal(2000))
PROTECTIONS = Protections(
    stop_loss=Decimal("0.1"),
    trailing_stop=Decimal("0.15"),
    max_drawdown=Decimal("0.25"),
    stop_loss_limit=3,
)
#: The sets each strategy's in-sample choice is made among (durations at the hourly spacing).
GRIDS: dict[str, list[dict[str, str]]] = {
    "rsi": [
        {"period": p, "low": lo, "high": hi}
        for p in ("6h", "12h", "18h")
        for lo, hi in (("30", "70"), ("40", "60"))
    ],
    "ema_cross": [
        {"short": s, "long": lg} for s, lg in (("6h", "1d"), ("12h", "2d"), ("1d", "3d"))
    ],
    "zscore": [{"window": w, "threshold": t} for w in ("1d", "2d") for t in ("1.5", "2.0")],
}
CACHE = Path(__file__).resolve().parent.parent / ".kripto" / "samples"


@dataclass(frozen=True)
class Row:
    name: str
    params: str
    span: str
    fee: str
    ret: float
    drawdown: float
    fees: Decimal
    trades: int

    @property
    def score(self) -> float:
        """Return over maximum drawdown (risk-adjusted); a flat line scores its return."""
        return self.ret / self.drawdown if self.drawdown > 0 else self.ret

    def line(self) -> str:
        return (
            f"| {self.name} | {self.params} | {self.span} | {self.fee} | {self.ret:+.1%} |"
            f" {self.drawdown:.1%} | {self.score:+.2f} | {float(self.fees / START_GBP):.1%} |"
            f" {self.trades} |"
        )


def _row(name: str, result: BacktestResult, span: str, fee: str) -> Row:
    durations = {p.name for p in declaration(result.strategy) if p.duration}
    params = " ".join(
        f"{k}={fmt_minutes(int(v)) if k in durations else v}" for k, v in result.params.items()
    )
    return Row(
        name,
        params,
        span,
        fee,
        float(result.total_return),
        result.max_drawdown,
        result.fees_paid,
        len(result.trades),
    )


def _hold_row(prices: np.ndarray, span: str, fee: str, rate: Decimal) -> Row:
    curve, _ = compute_baselines(prices, START_GBP, rate, 24)
    peaks = np.maximum.accumulate(curve)
    fees = START_GBP - START_GBP / (1 + rate)
    ret = float(curve[-1]) / float(START_GBP) - 1
    return Row("buy & hold", "", span, fee, ret, float(np.max(1 - curve / peaks)), fees, 1)


def _dca(days: int, dip: str) -> Strategy:
    amount = str((START_GBP / days).quantize(Decimal("0.01")))
    return build("dca", {"every": "1d", "amount": amount, "dip": dip})


def table(series: Spaced) -> list[str]:
    prices = series.prices
    split = int((SPLIT - series.start).total_seconds() // series.step)
    tier = TIERS["intro1"]
    lines = [
        "| strategy | parameters | span | fee | return | max drawdown | return ÷ drawdown |"
        " fees (of the start) | trades |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    best: dict[str, Row] = {}
    for fee in ("maker", "taker"):
        rate = tier.rate(fee)
        spans = {
            "in 2017-07..2018-12": (prices[:split], 0),
            "out 2019": (prices, split),
        }

        def run(
            strategy: Strategy,
            span: str,
            risk: RiskSettings = RISK,
            spans: dict[str, tuple[np.ndarray, int]] = spans,
            rate: Decimal = rate,
        ) -> BacktestResult:
            values, start = spans[span]
            return run_backtest(
                values, strategy, risk, fee_rate=rate, gbp=START_GBP, step=60, trade_from=start
            )

        rows: list[Row] = []
        for span, (values, start) in spans.items():
            rows.append(_hold_row(values[start:], span, fee, rate))
            days = (values.size - start) // 24
            for dip, label in (("0.0", "dca"), ("5.0", "dca + dip")):
                rows.append(_row(label, run(_dca(days, dip), span), span, fee))
        for name, grid in GRIDS.items():
            sets = [build(name, values) for values in grid]
            chosen = max(
                sets, key=lambda s: _row(name, run(s, "in 2017-07..2018-12"), "", "").score
            )
            for span in spans:
                rows.append(_row(name, run(chosen, span), span, fee))
                protected = replace(RISK, protections=PROTECTIONS)
                rows.append(_row(f"{name} + protections", run(chosen, span, protected), span, fee))
        rows.sort(key=lambda r: (r.span != "in 2017-07..2018-12", -r.score))
        lines += [r.line() for r in rows]
        if fee == "taker":
            best = {r.name: r for r in rows if r.span == "out 2019"}
    active = [r for r in best.values() if r.name not in ("buy & hold", "dca", "dca + dip")]
    top = max(active, key=lambda r: r.score)
    dca = best["dca"]
    lines.append("")
    lines.append(
        f"Out of sample at the taker fee, the best active strategy on return ÷ drawdown is"
        f" {top.name} ({top.params}): {top.ret:+.1%} with a {top.drawdown:.1%} drawdown"
        f" ({top.score:+.2f}), against daily DCA {dca.ret:+.1%} ({dca.score:+.2f}) and"
        f" buy-and-hold {best['buy & hold'].ret:+.1%} ({best['buy & hold'].score:+.2f})."
    )
    verdict = (
        f"{top.name} beats DCA, so it is the default."
        if top.score > dca.score
        else "No active strategy beats DCA, so DCA is the default."
    )
    lines.append(verdict)
    return lines


def main(args: list[str]) -> None:
    if args != ["--sample"]:
        raise SystemExit("usage: python -m benchmarks.strategy_table --sample")
    series = read_series(sample_csv(CACHE))
    print(
        f"£{START_GBP:,} on the real sample ({series.describe()}); fees of Coinbase's lowest"
        " tier, 0.60% maker and 1.20% taker; protections: stop-loss 10%, trailing stop 15%,"
        " drawdown guard 25% (resume at 12.5%), 3 stop-losses a day pause buying a day.\n"
    )
    for line in table(series):
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
