"""docs/strategies.md holds what `python -m benchmarks.strategy_table` prints, the default
follows the rule written there, and the evaluation says which series it skipped and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.strategy_table import (
    DOC,
    EXECUTIONS,
    _execution,
    between,
    evaluate,
    gate_lines,
    named_series,
    section_lines,
    table,
)
from kripto.composition import risk_from_settings, strategy_from_settings
from kripto.protections import Protections
from kripto.settings import Settings

CHEAP = ("bitstamp-ethusd-1d",)


def documented() -> list[str]:
    return between(DOC.read_text(), "strategy-table")


def oos_scores(lines: list[str]) -> dict[str, dict[str, float]]:
    """The out-of-sample section at the default execution: strategy → series → return ÷
    drawdown, as printed."""
    start = lines.index(next(x for x in lines if x.startswith("### Out of sample")))
    scores: dict[str, dict[str, float]] = {}
    for line in lines[start + 4 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        scores.setdefault(cells[1], {})[cells[0]] = float(cells[5])
    return scores


def test_the_default_follows_the_rule_over_the_documented_table() -> None:
    """The rule of docs/strategies.md, applied to the table as documented: a strategy may be
    the default only if, out of sample at the default execution's fee, it beats DCA on return
    ÷ drawdown in a majority of the series and pooled; if none does, DCA is."""
    lines = documented()
    assert next(x for x in lines if x.startswith("### Out of sample")) == (
        f"### Out of sample (walk-forward, 4 test spans), {_execution('maker_first')}"
    )
    assert EXECUTIONS[0] == "maker_first"  # the default execution's fee is the one judged
    scores = oos_scores(lines)
    dca = scores.pop("dca")
    scores.pop("buy & hold")
    series = [s for s in dca if s != "pooled"]
    assert len(series) == 5  # every series `kripto history sample --list` names
    passing = {
        name: by["pooled"]
        for name, by in scores.items()
        if sum(by[s] > dca[s] for s in series if s in by) > len(series) / 2
        and by["pooled"] > dca["pooled"]
    }
    default = max(passing, key=lambda n: passing[n]) if passing else "dca"
    settings = Settings(_env_file=None)
    assert settings.strategy.strategy == default == "dca"
    verdict = "so by the rule **DCA is the default**."
    assert lines[-1].endswith(verdict)
    # DCA as a default: a daily buy, no dip, no protections.
    assert strategy_from_settings(settings.strategy).params() == {
        "every": "1440",
        "amount": "10.0",
        "dip": "0.0",
    }
    assert risk_from_settings(settings.risk, settings.strategy).protections == Protections()


def test_the_documented_rows_of_one_series_are_what_the_code_gives_now(
    sample_path: Path,
) -> None:
    """A cheap part regenerated: the shortest series' rows, full span and out of sample,
    at both executions, are in the documented table as they are printed now."""
    named = {k: v for k, v in named_series([], sample_path.parent).items() if k in CHEAP}
    now = evaluate(named)
    lines = documented()
    for sections in (now.full, now.out):
        for execution in EXECUTIONS:
            rows = section_lines(sections[execution], list(CHEAP))
            got = [r for r in rows if r.startswith(tuple(f"| {n} |" for n in CHEAP))]
            assert got and all(row in lines for row in got)


@pytest.mark.slow
def test_the_document_holds_the_whole_generated_table(sample_path: Path) -> None:
    """The whole table and the before-and-after of the gate (about a minute)."""
    named = named_series([], sample_path.parent)
    after = evaluate(named)
    assert documented() == table(after)
    from decimal import Decimal

    before = evaluate(named, Decimal(1))
    assert between(DOC.read_text(), "strategy-gate") == gate_lines(before, after, Decimal(2))


def test_unreadable_mixed_and_short_series_are_named_as_skipped(tmp_path: Path) -> None:
    duplicated = tmp_path / "duplicated.csv"
    duplicated.write_text(
        "time,price\n2026-01-01T00:00:00Z,100\n2026-01-01T00:00:00Z,101\n2026-01-01T00:01:00Z,102\n"
    )
    mixed = tmp_path / "mixed.csv"
    rows = [f"2026-01-{d:02d}T00:00:00Z,{100 + d}" for d in range(1, 29)]
    rows.insert(5, "2026-01-05T12:00:00Z,99")
    mixed.write_text("time,price\n" + "\n".join(rows) + "\n")
    short = tmp_path / "short.csv"
    short.write_text(
        "time,price\n" + "\n".join(f"2026-01-{d:02d}T00:00:00Z,{100 + d}" for d in range(1, 21))
    )
    out = evaluate({"duplicated": duplicated, "mixed": mixed, "short": short})
    assert out.skipped == [
        f"duplicated: skipped, the file cannot be read: {duplicated}: line 3 is not later than"
        " the line before it",
        "mixed: skipped, mixed spacing: 28 points, 1d apart; no gaps; 1 row off the 1d grid"
        " (one spacing per series)",
    ]
    assert out.series == ["short"]
    assert out.short == [
        "short: too short for rsi under walk-forward: the slowest set needs 8 bars of 1d (8 d),"
        " each span has 4 (4 d)",
        "short: too short for ema_cross under walk-forward: the slowest set needs 6 bars of 1d"
        " (6 d), each span has 4 (4 d)",
    ]
