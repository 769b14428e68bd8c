"""From the books (and any trades from files) to a tax year's report: the one pipeline that
`kripto tax` runs and a tax service can call."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from kripto.db.pool import Database
from kripto.tax.engine import ZERO, Trade, compute, year_report
from kripto.tax.ledger import Ledger, load_ledger
from kripto.tax.report import report_json
from kripto.tax.years import TaxYear


async def report_with_trades(
    db: Database | None,
    year: TaxYear,
    *,
    extra: Sequence[Trade] = (),
    notes: tuple[str, ...] = (),
    brought_forward: Decimal = ZERO,
) -> tuple[dict[str, Any], list[Trade]]:
    """The year's report as `kripto tax --json` prints it, and every trade it was computed
    from up to the year's end (what `--csv` writes). `db` None: from `extra` alone (the files
    of `--no-books`). InvalidInput names what cannot be reported."""
    ledger = await load_ledger(db) if db is not None else Ledger((), ())
    trades = [*ledger.trades, *extra]
    report = year_report(compute(trades), year, brought_forward)
    used = [t for t in trades if t.day <= year.last]
    return report_json(report, ledger.conversions, notes), used
