"""The UK capital gains report for a tax year (`kripto tax`, the dashboard's tax page): the
one pipeline from the books to the report."""

from __future__ import annotations

from typing import Any

from kripto.db.pool import Database
from kripto.tax.engine import compute, year_report
from kripto.tax.ledger import load_ledger
from kripto.tax.report import report_json
from kripto.tax.years import TaxYear


async def tax_report(db: Database, year: TaxYear) -> dict[str, Any]:
    """The year's report as `kripto tax --json` prints it. InvalidInput names what in the
    books cannot be reported (a sale of more than was held, say)."""
    ledger = await load_ledger(db)
    return report_json(year_report(compute(ledger.trades), year), ledger.conversions)
