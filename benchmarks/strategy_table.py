"""The strategy table of docs/strategies.md: every strategy, without and with the protections,
over every real series Kripto can reach offline (kripto/sample.py; `--csv FILE`, repeatable,
adds a series of your own), at the default execution's fee (maker-first: the maker rate) and at
the taker fee of Coinbase's lowest tier, before the default is chosen by the rule written there.

For each series: the full span at each strategy's default parameters first, then a walk-forward
counted in the series' own bars: FOLDS + 1 equal spans, and for each test span the parameters
are chosen on the spans before it only (by return ÷ maximum drawdown) and judged on the test
span, which reads the spans before as warm-up history but trades only in its own. The test
spans are chained (each starts with the money the one before ended with). Pooled: the mean of
the series' figures, and the mean return over the mean drawdown.

    .venv/bin/python -m benchmarks.strategy_table [--csv FILE ...] [--min-edge M] [--gate]

`--gate` prints the pooled out-of-sample figures before the min-edge gate (KRIPTO_MIN_EDGE=1:
only the plain round-trip fee) and after it (the default). A test
(tests/unit/test_strategy_table.py) checks docs/strategies.md holds this output."""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import numpy as np

from kripto.backtest.csvfile import CsvError, read_series
from kripto.backtest.engine import (
    BacktestResult,
    Baselines,
    Costs,
    compute_baselines,
    run_backtest,
)
from kripto.execution import Execution
from kripto.fees import TIERS, planned_rate, round_trip_rate
from kripto.protections import Protections
from kripto.risk import RiskSettings
from kripto.sample import SERIES, series_csv
from kripto.strategies import Strategy, build, declaration
from kripto.strategies.base import fmt_minutes, min_points_at
from kripto.strategies.indicators import Floats
from kripto.strategies.series import Spaced, fmt_step

START_GBP = Decimal(10_000)
FOLDS = 4
#: The default execution first (its fee is the one the rule judges at), then the taker's.
EXECUTIONS = ("maker_first", "taker")
TIER = TIERS["intro1"]
#: The guards as configured by default, but with a daily limit that lets £10,000 work and the
#: exchange's £1 minimum order, so DCA can spread the money over a span of years.
RISK = RiskSettings(daily_spend_limit_gbp=Decimal(2000), min_order_gbp=Decimal(1))
PROTECTIONS = Protections(
    stop_loss=Decimal("0.1"),
    trailing_stop=Decimal("0.15"),
    max_drawdown=Decimal("0.25"),
    stop_loss_limit=3,
)
#: The sets the walk-forward chooses among (durations: they become bars at each series' step).
GRIDS: dict[str, list[dict[str, str]]] = {
    "zscore": [
        {"window": w, "threshold": t}
        for w in ("12h", "1d", "2d", "3d")
        for t in ("1.0", "1.5", "2.0")
    ],
    "rsi": [
        {"period": p, "low": lo, "high": hi}
        for p in ("6h", "12h", "18h")
        for lo, hi in (("30", "70"), ("40", "60"))
    ],
    "ema_cross": [
        {"short": s, "long": lg} for s, lg in (("6h", "1d"), ("12h", "2d"), ("1d", "3d"))
    ],
}
ACTIVE = tuple(GRIDS)
REFERENCES = ("buy & hold", "dca")
CACHE = Path(__file__).resolve().parent.parent / ".kripto" / "samples"


@dataclass(frozen=True)
class Figures:
    """One strategy's figures over one series (or pooled)."""

    ret: float
    drawdown: float
    fees: float  # a share of the start
    trades: int
    in_market: float  # the share of the points with coins held

    @property
    def score(self) -> float:
        """Return over maximum drawdown; a line that never dipped scores its return."""
        return self.ret / self.drawdown if self.drawdown > 0 else self.ret


@dataclass
class Row:
    series: str
    name: str
    params: str
    figures: Figures

    def line(self) -> str:
        f = self.figures
        return (
            f"| {self.series} | {self.name} | {self.params} | {f.ret:+.1%} | {f.drawdown:.1%} |"
            f" {f.score:+.2f} | {f.fees:.1%} | {f.trades} | {f.in_market:.0%} |"
        )


HEADER = [
    "| series | strategy | parameters | return | max drawdown | return ÷ drawdown |"
    " fees (of the start) | trades | time in market |",
    "|---|---|---|---|---|---|---|---|---|",
]


@dataclass
class Section:
    """Rows by strategy label, per series, for one execution and one span kind."""

    rows: dict[str, dict[str, Row]] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.setdefault(row.name, {})[row.series] = row


def costs(execution: str) -> Costs:
    """How the backtester fills and charges an order under `execution` (maker-first: a maker
    order at the close that fills when a later close goes through it, the rest a taker order
    at the window's end; taker: every order at the close, at the taker rate)."""
    return Costs(TIER, Execution(execution))


def fee_rate(execution: str) -> Decimal:
    """The rate a fill plans to pay under `execution` (buy-and-hold's one buy)."""
    return planned_rate(TIER, execution)


def in_market(result: BacktestResult, first: int) -> float:
    """The share of the result's points (from `first`, its trade_from) with coins held."""
    if not result.trades or result.points == 0:
        return 0.0
    index = np.array([t.index for t in result.trades])
    held = np.cumsum([float(t.fill.btc_change) for t in result.trades]) > 1e-12
    ends = np.append(index[1:], first + result.points)
    return float(np.sum((ends - index)[held])) / result.points


def figures(result: BacktestResult, first: int) -> Figures:
    return Figures(
        float(result.total_return),
        result.max_drawdown,
        float(result.fees_share),
        len(result.trades),
        in_market(result, first),
    )


def chain(results: Sequence[tuple[BacktestResult, int]]) -> Figures:
    """Test spans one after the other, each starting with what the one before ended with."""
    factor = 1.0
    curves: list[Floats] = []
    fees = 0.0
    trades = 0
    held = 0.0
    points = 0
    for result, first in results:
        curve = result.equity / float(result.start_gbp)
        curves.append(curve * factor)
        fees += float(result.fees_share) * factor
        factor *= float(curve[-1])
        trades += len(result.trades)
        held += in_market(result, first) * result.points
        points += result.points
    equity = np.concatenate(curves)
    peaks = np.maximum.accumulate(np.maximum(equity, 1.0))
    drawdown = float(np.max(1.0 - equity / peaks))
    return Figures(factor - 1, drawdown, fees, trades, held / points if points else 0.0)


def hold_figures(prices: Floats, rate: Decimal) -> tuple[Figures, Floats]:
    curve, _ = compute_baselines(prices, START_GBP, rate, 1)
    equity = curve / float(START_GBP)
    peaks = np.maximum.accumulate(np.maximum(equity, 1.0))
    fees = float(rate / (1 + rate))
    return Figures(float(equity[-1]) - 1, float(np.max(1 - equity / peaks)), fees, 1, 1.0), equity


def chain_hold(parts: Sequence[Floats], rate: Decimal) -> Figures:
    factor, curves, fees = 1.0, [], 0.0
    for prices in parts:
        one, equity = hold_figures(prices, rate)
        curves.append(equity * factor)
        fees += one.fees * factor
        factor *= float(equity[-1])
    equity = np.concatenate(curves)
    peaks = np.maximum.accumulate(np.maximum(equity, 1.0))
    return Figures(factor - 1, float(np.max(1 - equity / peaks)), fees, len(parts), 1.0)


def dca(series: Spaced, points: int) -> Strategy:
    """The DCA strategy spending the start in equal daily buys over `points` of the series."""
    days = max(1, points * series.step_minutes // 1440)
    amount = str(max(Decimal(1), (START_GBP / days).quantize(Decimal("0.01"))))
    return build("dca", {"every": "1d", "amount": amount})


def label(params: dict[str, str], name: str) -> str:
    durations = {p.name for p in declaration(name) if p.duration}
    return " ".join(
        f"{k}={fmt_minutes(int(v)) if k in durations else v}" for k, v in params.items()
    )


@dataclass
class Evaluation:
    """Everything the table prints, per execution: the full-span and out-of-sample sections."""

    full: dict[str, Section] = field(default_factory=dict)
    out: dict[str, Section] = field(default_factory=dict)
    #: Series left out, and why (unreadable, mixed spacing, too short).
    skipped: list[str] = field(default_factory=list)
    #: Strategies a series was too short for under walk-forward (one line each).
    short: list[str] = field(default_factory=list)
    series: list[str] = field(default_factory=list)
    described: list[str] = field(default_factory=list)


def evaluate(named: dict[str, Path], min_edge: Decimal | None = None) -> Evaluation:
    risk = RISK if min_edge is None else replace(RISK, min_edge=min_edge)
    protected = replace(risk, protections=PROTECTIONS)
    out = Evaluation()
    for execution in EXECUTIONS:
        out.full[execution] = Section()
        out.out[execution] = Section()
    for name, path in named.items():
        try:
            series = read_series(path)
        except CsvError as exc:
            out.skipped.append(f"{name}: skipped, the file cannot be read: {exc}")
            continue
        if series.uneven:
            out.skipped.append(
                f"{name}: skipped, mixed spacing: {series.describe()} (one spacing per series)"
            )
            continue
        span = series.prices.size // (FOLDS + 1)
        if span < 2:
            out.skipped.append(f"{name}: skipped, {series.prices.size} bars is too short")
            continue
        out.series.append(name)
        out.described.append(f"{name}: {series.describe()}, from {series.start:%Y-%m-%d}")
        for execution in EXECUTIONS:
            _one(series, name, execution, risk, protected, out)
    return out


def _one(
    series: Spaced,
    name: str,
    execution: str,
    risk: RiskSettings,
    protected: RiskSettings,
    out: Evaluation,
) -> None:
    rate, priced = fee_rate(execution), costs(execution)
    prices, step = series.prices, series.step_minutes

    shared: dict[tuple[int, int], Baselines] = {}

    def run(strategy: Strategy, end: int, trade_from: int, guards: RiskSettings) -> BacktestResult:
        # Buy-and-hold and DCA over a span are the same for every set: computed once a span.
        if (end, trade_from) not in shared:
            shared[end, trade_from] = compute_baselines(
                prices[trade_from:end], START_GBP, priced.side_rate, max(1, 1440 // step)
            )
        return run_backtest(
            prices[:end],
            strategy,
            guards,
            costs=priced,
            gbp=START_GBP,
            start=series.start,
            observed=series.observed[:end],
            step=step,
            trade_from=trade_from,
            baselines=shared[end, trade_from],
        )

    full, oos = out.full[execution], out.out[execution]
    n = prices.size
    full.add(Row(name, "buy & hold", "", hold_figures(prices, rate)[0]))
    full.add(Row(name, "dca", "every=1d", figures(run(dca(series, n), n, 0, risk), 0)))
    for strategy in ACTIVE:
        default = build(strategy, {})
        for guards, suffix in ((risk, ""), (protected, " + protections")):
            result = run(default, n, 0, guards)
            full.add(
                Row(name, strategy + suffix, label(default.params(), strategy), figures(result, 0))
            )
    edges = [n * i // (FOLDS + 1) for i in range(FOLDS + 2)]
    tests = list(itertools.pairwise(edges[1:]))
    oos.add(Row(name, "buy & hold", "", chain_hold([prices[a:b] for a, b in tests], rate)))
    dcas = [(run(dca(series, b - a), b, a, risk), a) for a, b in tests]
    oos.add(Row(name, "dca", "every=1d", chain(dcas)))
    unit = fmt_step(series.step)
    for strategy in ACTIVE:
        sets = [build(strategy, values) for values in GRIDS[strategy]]
        slowest = max(min_points_at(s, step) for s in sets)
        if edges[1] < slowest:
            if execution == EXECUTIONS[0]:
                out.short.append(
                    f"{name}: too short for {strategy} under walk-forward: the slowest set needs"
                    f" {slowest:,} bars of {unit} ({_span(slowest, series)}), each span has"
                    f" {edges[1]:,} ({_span(edges[1], series)})"
                )
            continue
        for guards, suffix in ((risk, ""), (protected, " + protections")):
            chosen: list[str] = []
            results = []
            for a, b in tests:
                scores = [figures(run(s, a, 0, guards), 0).score for s in sets]
                best = sets[scores.index(max(scores))]
                chosen.append(label(best.params(), strategy))
                results.append((run(best, b, a, guards), a))
            common, times = Counter(chosen).most_common(1)[0]
            params = common if times == len(chosen) else f"{common} ({times} of {len(chosen)})"
            oos.add(Row(name, strategy + suffix, params, chain(results)))


def _span(bars: int, series: Spaced) -> str:
    days = bars * series.step / 86400
    return f"{days:,.0f} d" if days >= 2 else f"{days * 24:,.0f} h"


def pooled(section: Section, names: list[str]) -> dict[str, Figures]:
    """Per strategy, over the series it ran on: the means (trades: the total)."""
    out: dict[str, Figures] = {}
    for strategy, rows in section.rows.items():
        got = [rows[n].figures for n in names if n in rows]
        if not got:
            continue
        out[strategy] = Figures(
            float(np.mean([f.ret for f in got])),
            float(np.mean([f.drawdown for f in got])),
            float(np.mean([f.fees for f in got])),
            sum(f.trades for f in got),
            float(np.mean([f.in_market for f in got])),
        )
    return out


def _order(section: Section) -> list[str]:
    return [s for s in (*REFERENCES,) if s in section.rows] + [
        s for s in section.rows if s not in REFERENCES
    ]


def section_lines(section: Section, names: list[str]) -> list[str]:
    lines = list(HEADER)
    order = _order(section)
    for series in names:
        lines += [section.rows[s][series].line() for s in order if series in section.rows[s]]
    pool = pooled(section, names)
    lines += [Row("pooled", s, "", pool[s]).line() for s in order if s in pool]
    return lines


@dataclass(frozen=True)
class Verdict:
    default: str
    lines: list[str]


def verdict(evaluation: Evaluation) -> Verdict:
    """The rule of docs/strategies.md over the out-of-sample section at the default execution."""
    section = evaluation.out[EXECUTIONS[0]]
    names = evaluation.series
    pool = pooled(section, names)
    dca_rows = section.rows["dca"]
    lines = []
    passing: list[tuple[float, str]] = []
    for strategy in section.rows:
        if strategy in REFERENCES:
            continue
        rows = section.rows[strategy]
        wins = sum(
            1 for n in names if n in rows and rows[n].figures.score > dca_rows[n].figures.score
        )
        majority = wins > len(names) / 2
        beats_pool = pool[strategy].score > pool["dca"].score
        ok = majority and beats_pool
        lines.append(
            f"- {strategy}: beats DCA in {wins} of {len(names)} series"
            f" ({'a majority' if majority else 'not a majority'}); pooled"
            f" {pool[strategy].score:+.2f} against DCA's {pool['dca'].score:+.2f}"
            f" ({'better' if beats_pool else 'not better'}): {'may be' if ok else 'may not be'}"
            " the default."
        )
        if ok:
            passing.append((pool[strategy].score, strategy))
    if passing:
        best = max(passing)[1]
        lines += ["", f"By the rule, the default is **{best}**."]
        return Verdict(best, lines)
    lines.append("")
    lines.append(
        "No strategy beats DCA out of sample in a majority of the series and pooled, so by the"
        " rule **DCA is the default**."
    )
    return Verdict("dca", lines)


def table(evaluation: Evaluation) -> list[str]:
    names = evaluation.series
    lines: list[str] = []
    lines.append(
        f"£{START_GBP:,} per series; fees of Coinbase's lowest tier, maker {TIER.maker * 100:.2f}%"
        f" and taker {TIER.taker * 100:.2f}%, under maker-first (the default execution, filled"
        " as the backtester's maker model fills it: docs/fees.md) and under taker;"
        " protections: stop-loss 10%, trailing stop 15%, drawdown guard 25% (resume at 12.5%),"
        " 3 stop-losses a day pause buying a day. Series:"
    )
    lines.append("")
    lines += [f"- {d}" for d in evaluation.described]
    lines += [f"- {s}" for s in evaluation.skipped]
    lines += [f"- {s}" for s in evaluation.short]
    for execution in EXECUTIONS:
        lines += ["", f"### Full span, default parameters, {_execution(execution)}", ""]
        lines += section_lines(evaluation.full[execution], names)
    for execution in EXECUTIONS:
        lines += [
            "",
            f"### Out of sample (walk-forward, {FOLDS} test spans), {_execution(execution)}",
            "",
        ]
        lines += section_lines(evaluation.out[execution], names)
    lines += ["", f"### The rule, out of sample at {_execution(EXECUTIONS[0])}", ""]
    lines += verdict(evaluation).lines
    return lines


def gate_lines(before: Evaluation, after: Evaluation, margin: Decimal) -> list[str]:
    """Pooled out-of-sample figures at KRIPTO_MIN_EDGE=1 (only the round-trip fee) and at the
    default margin."""
    lines = [
        "| execution | strategy | min edge | return | max drawdown | return ÷ drawdown |"
        " fees (of the start) | trades | time in market |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for execution in EXECUTIONS:
        one = pooled(before.out[execution], before.series)
        two = pooled(after.out[execution], after.series)
        for strategy in _order(after.out[execution]):
            if strategy in REFERENCES:
                continue
            for times, f in ((Decimal(1), one[strategy]), (margin, two[strategy])):
                lines.append(
                    f"| {execution.replace('_', '-')} | {strategy} | {times.normalize():f}× |"  # noqa: RUF001
                    f" {f.ret:+.1%} | {f.drawdown:.1%} | {f.score:+.2f} | {f.fees:.1%} |"
                    f" {f.trades} | {f.in_market:.0%} |"
                )
    return lines


def _execution(execution: str) -> str:
    if Execution(execution) is Execution.MAKER_FIRST:
        return (
            f"maker-first ({TIER.maker * 100:.2f}% a maker fill, {TIER.taker * 100:.2f}% the"
            f" taker rest; the gate weighs {round_trip_rate(TIER, execution) * 100:.2f}%"
            " a round trip)"
        )
    return f"taker ({TIER.taker * 100:.2f}% a side)"


def named_series(csvs: Sequence[Path], cache: Path = CACHE) -> dict[str, Path]:
    named = {name: series_csv(name, cache) for name in SERIES}
    for path in csvs:
        named[path.stem] = path
    return named


DOC = Path(__file__).resolve().parent.parent / "docs" / "strategies.md"


def splice(text: str, marker: str, lines: list[str]) -> str:
    """`text` with the lines between `<!-- MARKER:begin -->` and `<!-- MARKER:end -->` replaced."""
    begin, end = f"<!-- {marker}:begin -->\n", f"<!-- {marker}:end -->"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "".join(f"{line}\n" for line in lines) + end + tail


def between(text: str, marker: str) -> list[str]:
    """The lines between a marker's begin and end."""
    begin, end = f"<!-- {marker}:begin -->\n", f"<!-- {marker}:end -->"
    return text.split(begin, 1)[1].split(end, 1)[0].splitlines()


def main(args: list[str]) -> None:
    csvs: list[Path] = []
    min_edge: Decimal | None = None
    gate = False
    write = False
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--csv" and rest:
            csvs.append(Path(rest.pop(0)))
        elif arg == "--min-edge" and rest:
            min_edge = Decimal(rest.pop(0))
        elif arg == "--gate":
            gate = True
        elif arg == "--write":
            write = True
        else:
            raise SystemExit(
                "usage: python -m benchmarks.strategy_table [--csv FILE ...] [--min-edge M]"
                " [--gate] [--write]"
            )
    named = named_series(csvs)
    if write:  # docs/strategies.md's two generated blocks, from the series Kripto ships
        after = evaluate(named)
        text = splice(DOC.read_text(), "strategy-table", table(after))
        gate_table = gate_lines(evaluate(named, Decimal(1)), after, RISK.min_edge)
        DOC.write_text(splice(text, "strategy-gate", gate_table))
        return
    if gate:
        before = evaluate(named, Decimal(1))
        after = evaluate(named, min_edge)
        for line in gate_lines(before, after, min_edge or RISK.min_edge):
            print(line)
        return
    for line in table(evaluate(named, min_edge)):
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
