"""A tax year's report in the forms people take it in: JSON (every figure a string), plain text
(the terminal and the PDF), CSV (a line per disposal) and a PDF drawn with matplotlib. The
dashboard's Tax page renders the JSON form, so it shows the same figures."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from kripto.money import PENNY, plain, trim
from kripto.tax.engine import Disposal, Match, PoolStatement, Rule, Totals, YearReport, pounds
from kripto.tax.ledger import Conversion

ROUNDING = (
    "Whole pounds as HMRC's examples round: proceeds rounded down, a gain down and a loss up,"
    " allowable costs the difference; a pool rounded down."
)
BOXES = (
    ("disposals", "Number of disposals"),
    ("proceeds", "Disposal proceeds"),
    ("allowableCosts", "Allowable costs (including the purchase price)"),
    ("gains", "Gains in the year, before losses"),
    ("losses", "Losses in the year"),
)


def gbp(value: Decimal) -> str:
    """`£1,234` for whole pounds, `-£163,637` for a loss."""
    return f"{'-' if value < 0 else ''}£{abs(value):,}"


def qty(value: Decimal) -> str:
    return plain(trim(value))


def _match_text(m: Match) -> str:
    when = f" {m.acquired:%d/%m/%Y}" if m.rule is Rule.THIRTY_DAY and m.acquired else ""
    return f"{m.rule.value}{when}: {qty(m.quantity)} ({gbp(m.cost_pounds)})"


def matching_text(d: Disposal) -> str:
    parts = [_match_text(m) for m in d.matches]
    if d.fees:
        parts.append(f"fees £{d.fees.quantize(PENNY):,}")
    return "; ".join(parts)


def _totals(t: Totals) -> dict[str, Any]:
    return {
        "disposals": t.disposals,
        "proceeds": plain(t.proceeds),
        "allowableCosts": plain(t.costs),
        "gains": plain(t.gains),
        "losses": plain(t.losses),
        "netGains": plain(t.net),
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


def report_json(report: YearReport, conversions: tuple[Conversion, ...] = ()) -> dict[str, Any]:
    year = report.year
    return {
        "year": year.name,
        "from": year.first.isoformat(),
        "to": year.last.isoformat(),
        "annualExemptAmount": plain(report.annual_exempt_amount),
        "totals": _totals(report.totals),
        "aboveAnnualExemptAmount": plain(report.above_exempt_amount),
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


def report_text(data: dict[str, Any]) -> str:
    """The report as plain text (fixed columns), from its JSON form."""
    out = [
        f"UK Capital Gains Tax, {data['year']} ({_long(data['from'])} to {_long(data['to'])})",
        "Matched by HMRC's rules for cryptoassets: same day, then 30 days, then the Section 104"
        " pool.",
        "",
        "Disposals",
    ]
    if data["disposals"]:
        rows = [["Date", "Asset", "Quantity", "Proceeds", "Costs", "Gain/loss", "Matching"]]
        rows += [
            [
                d["date"],
                d["asset"],
                d["quantity"],
                gbp(Decimal(d["proceeds"])),
                gbp(Decimal(d["allowableCosts"])),
                gbp(Decimal(d["gain"])),
                d["matching"],
            ]
            for d in data["disposals"]
        ]
        out += _columns(rows, {2, 3, 4, 5})
    else:
        out.append("  none in this tax year")
    out += ["", "Self Assessment capital gains summary (cryptoassets)"]
    columns = [("Whole year", data["totals"])] if len(data["periods"]) == 1 else []
    columns += [] if len(data["periods"]) == 1 else [(p["label"], p) for p in data["periods"]]
    rows = [[""] + [label for label, _ in columns]]
    for key, label in BOXES:
        rows.append(
            [label]
            + [str(t[key]) if key == "disposals" else gbp(Decimal(t[key])) for _, t in columns]
        )
    out += _columns(rows, set(range(1, len(columns) + 1)))
    if len(data["periods"]) > 1:
        out.append(
            "CGT rates changed on 30 October 2024: disposals before it and from it are reported"
            " separately."
        )
    out += [
        "",
        f"Net gains in the year:         {gbp(Decimal(data['totals']['netGains']))}",
        f"Annual exempt amount:          {gbp(Decimal(data['annualExemptAmount']))}",
        f"Net gains above the exemption: {gbp(Decimal(data['aboveAnnualExemptAmount']))}"
        " (before any losses brought forward)",
    ]
    for pool in data["pools"]:
        out += ["", f"Section 104 pool: {pool['asset']}"]
        rows = [["Date", "Change", "Quantity", "Cost", "Pool quantity", "Pool cost"]]
        rows.append(
            [
                "",
                "opening balance",
                "",
                "",
                pool["opening"]["quantity"],
                gbp(Decimal(pool["opening"]["cost"])),
            ]
        )
        rows += [
            [
                e["date"],
                e["what"],
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
                "closing balance",
                "",
                "",
                pool["closing"]["quantity"],
                gbp(Decimal(pool["closing"]["cost"])),
            ]
        )
        out += _columns(rows, {2, 3, 4, 5})
    if data["conversions"]:
        out += ["", "Converted to pounds at the rate stored for the trade's minute:"]
        out += [f"  {line}" for line in data["conversions"]]
    out += ["", data["rounding"]]
    return "\n".join(out) + "\n"


def _long(iso: str) -> str:
    from datetime import date

    d = date.fromisoformat(iso)
    return f"{d.day} {d:%B %Y}"


def write_csv(data: dict[str, Any], path: Path) -> None:
    """A line per disposal: the figures in whole pounds and its matching."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "date",
            "asset",
            "quantity",
            "proceeds_gbp",
            "allowable_costs_gbp",
            "gain_gbp",
            "matching",
            "trades",
        ]
    )
    for d in data["disposals"]:
        writer.writerow(
            [
                d["date"],
                d["asset"],
                d["quantity"],
                d["proceeds"],
                d["allowableCosts"],
                d["gain"],
                d["matching"],
                " ".join(d["trades"]),
            ]
        )
    path.write_text(buffer.getvalue(), encoding="utf-8")


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
