"""A tax year's report in the forms people take it in: JSON (every figure a string), plain text
(the terminal and the PDF, at most 80 columns) and a PDF drawn with matplotlib. (`--csv` writes
the trades the report was computed from: kripto.tax.files.write_trades_csv.) The
dashboard's Tax page renders the JSON form, so it shows the same figures."""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from kripto.money import PENNY, plain, trim
from kripto.tax.engine import (
    Allowances,
    Disposal,
    Exact,
    Match,
    PoolStatement,
    Rule,
    Totals,
    YearReport,
    pounds,
)
from kripto.tax.ledger import Conversion

ROUNDING = (
    "Each figure is kept exact (to the penny and beyond) and rounded once, to whole pounds, in"
    " the taxpayer's favour as HMRC asks: proceeds and gains rounded down, allowable costs and"
    " losses rounded up (the Tax Return's whole-pounds rule; HMRC's cryptoasset examples"
    " CRYPTO22251-22256 state each part this way). A year's box is rounded from the exact total"
    " of its disposals, never added up from rounded ones. Pools are shown rounded down."
)
#: The Self Assessment's cryptoasset figures (SA108, 2024-25 onwards), as the form names them.
BOXES = (
    ("disposals", "Number of disposals"),
    ("proceeds", "Disposal proceeds"),
    ("allowableCosts", "Allowable costs (including the purchase price)"),
    ("gains", "Gains in the year, before losses"),
    ("losses", "Losses in the year"),
)
#: The same, short enough for an 80-column table.
SHORT_BOXES = {
    "disposals": "Number of disposals",
    "proceeds": "Disposal proceeds",
    "allowableCosts": "Allowable costs",
    "gains": "Gains before losses",
    "losses": "Losses",
}
WIDTH = 80
RATE_CHANGE_NOTE = (
    "CGT rates changed on 30 October 2024 (10% and 20% before, 18% and 24% from it): the"
    " rate-change adjustment needs the gains either side of it. Losses and the annual exempt"
    " amount are set against the gains from 30 October first, because they are taxed at the"
    " higher rates, so this gives the lowest tax; HMRC lets you set them where they save most."
)


def gbp(value: Decimal) -> str:
    """`£1,234` for whole pounds, `-£163,637` for a loss."""
    return f"{'-' if value < 0 else ''}£{abs(value):,}"


def pence(value: Decimal) -> str:
    """`£1,234.57`: an exact figure to the penny (half-even), for reading beside the pounds."""
    rounded = value.quantize(PENNY)
    return f"{'-' if rounded < 0 else ''}£{abs(rounded):,}"


def qty(value: Decimal) -> str:
    return plain(trim(value))


def _match_text(m: Match) -> str:
    when = f" {m.acquired:%d/%m/%Y}" if m.rule is Rule.THIRTY_DAY and m.acquired else ""
    return f"{m.rule.value}{when}: {qty(m.quantity)} ({pence(m.cost)})"


def matching_text(d: Disposal) -> str:
    """How the disposal was matched, each part at its exact cost, and the fees: they add up to
    the disposal's exact allowable costs (the figure its whole pounds are rounded from)."""
    parts = [_match_text(m) for m in d.matches]
    if d.fees:
        parts.append(f"fees {pence(d.fees)}")
    return "; ".join(parts)


def _exact(e: Exact) -> dict[str, str]:
    return {
        "proceeds": plain(e.proceeds.quantize(PENNY)),
        "allowableCosts": plain(e.costs.quantize(PENNY)),
        "gains": plain(e.gains.quantize(PENNY)),
        "losses": plain(e.losses.quantize(PENNY)),
        "netGains": plain(e.net.quantize(PENNY)),
    }


def _totals(t: Totals) -> dict[str, Any]:
    return {
        "disposals": t.disposals,
        "proceeds": plain(t.proceeds),
        "allowableCosts": plain(t.costs),
        "gains": plain(t.gains),
        "losses": plain(t.losses),
        "netGains": plain(t.net),
        "exact": _exact(t.exact),
    }


def _pool(s: PoolStatement) -> dict[str, Any]:
    return {
        "asset": s.asset,
        "opening": {"quantity": qty(s.opening_quantity), "cost": plain(pounds(s.opening_cost))},
        "entries": [
            {
                "date": e.day.isoformat(),
                "what": e.what,
                "quantity": qty(e.quantity),
                "cost": plain(pounds(e.pool_cost) - pounds(e.pool_cost - e.cost)),
                "poolQuantity": qty(e.pool_quantity),
                "poolCost": plain(pounds(e.pool_cost)),
            }
            for e in s.entries
        ],
        "closing": {"quantity": qty(s.closing_quantity), "cost": plain(pounds(s.closing_cost))},
    }


def _allowances(a: Allowances) -> dict[str, Any]:
    data: dict[str, Any] = {
        "netGains": plain(a.net_gains),
        "lossesBroughtForward": plain(a.brought_forward),
        "lossesBroughtForwardUsed": plain(a.brought_forward_used),
        "lossesCarriedForward": plain(a.carried_forward),
        "annualExemptAmountUsed": plain(a.exempt_amount_used),
        "taxableGains": plain(a.taxable),
    }
    if a.taxable_before is not None and a.taxable_from is not None:
        data["taxableGainsBefore30October2024"] = plain(a.taxable_before)
        data["taxableGainsFrom30October2024"] = plain(a.taxable_from)
        data["setAgainstGainsFrom30OctoberFirst"] = True
    return data


def report_json(
    report: YearReport, conversions: tuple[Conversion, ...] = (), notes: tuple[str, ...] = ()
) -> dict[str, Any]:
    year = report.year
    return {
        "year": year.name,
        "from": year.first.isoformat(),
        "to": year.last.isoformat(),
        "annualExemptAmount": plain(report.annual_exempt_amount),
        "totals": _totals(report.totals),
        "aboveAnnualExemptAmount": plain(report.above_exempt_amount),
        "allowances": _allowances(report.allowances),
        "periods": [
            {"label": p.label, "from": p.first.isoformat(), "to": p.last.isoformat()} | _totals(t)
            for p, t in report.periods
        ],
        "disposals": [
            {
                "date": d.day.isoformat(),
                "asset": d.asset,
                "quantity": qty(d.quantity),
                "proceeds": plain(d.proceeds_pounds),
                "allowableCosts": plain(d.cost_pounds),
                "gain": plain(d.gain_pounds),
                "matching": matching_text(d),
                "matches": [
                    {
                        "rule": m.rule.value,
                        "quantity": qty(m.quantity),
                        "acquired": m.acquired.isoformat() if m.acquired else None,
                        "cost": plain(m.cost),
                    }
                    for m in d.matches
                ],
                "exact": {
                    "proceeds": plain(d.proceeds),
                    "fees": plain(d.fees),
                    "allowableCosts": plain(d.cost),
                    "gain": plain(d.gain),
                },
                "trades": list(d.refs),
            }
            for d in report.disposals
        ],
        "pools": [_pool(s) for _, s in sorted(report.pools.items())],
        "conversions": [c.line for c in conversions if c.at.date() <= year.last],
        "notes": list(notes),
        "rounding": ROUNDING,
    }


def _columns(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _wrap(text: str, indent: str = "", first: str = "") -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first or indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _period_label(p: dict[str, Any]) -> str:
    first, last = date.fromisoformat(p["from"]), date.fromisoformat(p["to"])
    return f"{first.day} {first:%b}-{last.day} {last:%b}"


def report_text(data: dict[str, Any]) -> str:
    """The report as plain text, every line at most 80 columns, from its JSON form."""
    out = [
        f"UK Capital Gains Tax, {data['year']} ({_long(data['from'])} to {_long(data['to'])})",
        *_wrap(
            "Matched by HMRC's rules for cryptoassets: same day, then 30 days, then the"
            " Section 104 pool."
        ),
        "",
        "Self Assessment: cryptoassets (SA108)",
    ]
    periods = data["periods"]
    columns = [(_period_label(p), p) for p in periods] if len(periods) > 1 else []
    columns.append(("Whole year", data["totals"]))
    rows = [[""] + [label for label, _ in columns]]
    for key, _ in BOXES:
        label = SHORT_BOXES[key]
        if key == "disposals":
            rows.append([label] + [str(t[key]) for _, t in columns])
            continue
        rows.append([label] + [gbp(Decimal(t[key])) for _, t in columns])
        rows.append(
            ["  exact, to the penny"] + [pence(Decimal(t["exact"][key])) for _, t in columns]
        )
    out += _columns(rows, set(range(1, len(columns) + 1)))
    a = data["allowances"]
    net = Decimal(a["netGains"])
    figures = [
        ("Net gains in the year", gbp(net)) if net >= 0 else ("Net loss in the year", gbp(-net)),
        (
            "Losses brought forward used",
            f"{gbp(Decimal(a['lossesBroughtForwardUsed']))} of"
            f" {gbp(Decimal(a['lossesBroughtForward']))}",
        ),
        ("Annual exempt amount", gbp(Decimal(data["annualExemptAmount"]))),
        ("Taxable gains", gbp(Decimal(a["taxableGains"]))),
        ("Losses to carry forward", gbp(Decimal(a["lossesCarriedForward"]))),
    ]
    if "taxableGainsFrom30October2024" in a:
        figures[4:4] = [
            ("  before 30 October 2024", gbp(Decimal(a["taxableGainsBefore30October2024"]))),
            ("  from 30 October 2024", gbp(Decimal(a["taxableGainsFrom30October2024"]))),
        ]
    out += [""]
    out += [f"{label + ':':<30}{value}" for label, value in figures]
    out += _wrap(
        "Losses brought forward are used only down to the annual exempt amount; the rest carry"
        " forward, with any net loss of the year (claim it on the return to keep it)."
    )
    if len(periods) > 1:
        out += ["", *_wrap(RATE_CHANGE_NOTE)]
    out += ["", "Disposals (a day's disposals of an asset are one disposal)"]
    if data["disposals"]:
        rows = [["Date", "Quantity", "Proceeds", "Costs", "Gain/loss"]]
        notes: list[list[str]] = []
        for d in data["disposals"]:
            exact = d["exact"]
            rows.append(
                [
                    d["date"],
                    d["quantity"],
                    gbp(Decimal(d["proceeds"])),
                    gbp(Decimal(d["allowableCosts"])),
                    gbp(Decimal(d["gain"])),
                ]
            )
            rows.append(
                [
                    "",
                    "to the penny",
                    pence(Decimal(exact["proceeds"])),
                    pence(Decimal(exact["allowableCosts"])),
                    pence(Decimal(exact["gain"])),
                ]
            )
            notes.append(_wrap(f"{d['asset']}: {d['matching']}", indent="    ", first="  "))
        table = _columns(rows, {1, 2, 3, 4})
        out.append(table[0])
        for n, lines in enumerate(notes):
            out += [table[1 + 2 * n], table[2 + 2 * n], *lines]
    else:
        out.append("  none in this tax year")
    for pool in data["pools"]:
        out += ["", f"Section 104 pool: {pool['asset']}"]
        rows = [["Date", "Change", "Quantity", "Cost", "Pool quantity", "Pool cost"]]
        rows.append(
            [
                "",
                "opening",
                "",
                "",
                pool["opening"]["quantity"],
                gbp(Decimal(pool["opening"]["cost"])),
            ]
        )
        rows += [
            [
                e["date"],
                "acquired" if e["what"] == "acquired" else "disposal",
                e["quantity"],
                gbp(Decimal(e["cost"])),
                e["poolQuantity"],
                gbp(Decimal(e["poolCost"])),
            ]
            for e in pool["entries"]
        ]
        rows.append(
            [
                "",
                "closing",
                "",
                "",
                pool["closing"]["quantity"],
                gbp(Decimal(pool["closing"]["cost"])),
            ]
        )
        out += _columns(rows, {2, 3, 4, 5})
    if data["conversions"]:
        out += ["", "Converted to pounds at the rate stored for the trade's minute:"]
        for line in data["conversions"]:
            out += _wrap(line, indent="    ", first="  ")
    if data.get("notes"):
        out += ["", "Trades from files:"]
        for line in data["notes"]:
            out += _wrap(line, indent="    ", first="  ")
    out += ["", *_wrap(data["rounding"])]
    return "\n".join(out) + "\n"


def _long(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.day} {d:%B %Y}"


LINES_PER_PAGE = 60


def write_pdf(data: dict[str, Any], path: Path) -> int:
    """The text report on A4 landscape pages in a monospaced font; returns the page count."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    lines = report_text(data).splitlines()
    pages = [lines[i : i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)]
    width = max((len(line) for line in lines), default=80)
    size = min(8.0, 11.69 * 72 / (max(width, 100) * 0.62))
    with PdfPages(path, metadata={"Title": f"Kripto: UK capital gains {data['year']}"}) as pdf:
        for n, page in enumerate(pages, 1):
            fig = plt.figure(figsize=(11.69, 8.27))
            fig.text(
                0.03,
                0.96,
                "\n".join(page),
                family="monospace",
                fontsize=size,
                va="top",
                ha="left",
            )
            fig.text(0.97, 0.02, f"page {n} of {len(pages)}", fontsize=7, ha="right")
            pdf.savefig(fig)
            plt.close(fig)
    return len(pages)
