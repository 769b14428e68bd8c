"""The UK capital gains report for a tax year (`kripto tax`, the dashboard's tax page): both
call the one pipeline from the books (and a person's files) to the report,
`kripto.tax.pipeline.report_with_trades`."""

from __future__ import annotations

from typing import Any

from kripto.db.pool import Database
from kripto.tax.pipeline import report_with_trades
from kripto.tax.years import TaxYear


async def tax_report(db: Database, year: TaxYear) -> dict[str, Any]:
    """The year's report as `kripto tax --json` prints it. InvalidInput names what in the
    books cannot be reported (a sale of more than was held, say)."""
    report, _ = await report_with_trades(db, year)
    return report
