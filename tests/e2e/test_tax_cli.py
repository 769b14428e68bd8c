"""`kripto tax` as a person runs it, on trades stored in Postgres: the text report, the same
figures as JSON, the CSV (a line per disposal) and the PDF, and a bad --year refused in one
line naming the rule."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kripto.db import Database
from kripto.settings import Settings
from tests.e2e.tax_trades import store_tax_trades

pytestmark = pytest.mark.e2e
KRIPTO = str(Path(sys.executable).with_name("kripto"))

REPORT = """\
UK Capital Gains Tax, 2025-26 (6 April 2025 to 5 April 2026)
Matched by HMRC's rules for cryptoassets: same day, then 30 days, then the Section 104 pool.

Disposals
Date        Asset  Quantity  Proceeds   Costs  Gain/loss  Matching
2025-05-20  BTC         0.1    £5,000  £4,054       £946  section 104: 0.1 (£4,024); fees £30.00
2025-06-20  BTC         0.1    £4,000  £3,847       £153  30 day 01/07/2025: 0.1 (£3,823); fees \
£24.00
2026-01-15  BTC        0.05    £1,500  £2,217      -£717  section 104: 0.05 (£2,208); fees £9.00

Self Assessment capital gains summary (cryptoassets)
                                                Whole year
Number of disposals                                      3
Disposal proceeds                                  £10,500
Allowable costs (including the purchase price)     £10,118
Gains in the year, before losses                    £1,099
Losses in the year                                    £717

Net gains in the year:         £382
Annual exempt amount:          £3,000
Net gains above the exemption: £0 (before any losses brought forward)

Section 104 pool: BTC
Date        Change           Quantity     Cost  Pool quantity  Pool cost
            opening balance                                 0         £0
2025-04-10  acquired              0.5  £20,120            0.5    £20,120
2025-05-20  disposed of          -0.1  -£4,024            0.4    £16,096
2025-09-01  acquired             0.05   £3,772           0.45    £19,868
2026-01-15  disposed of         -0.05  -£2,208            0.4    £17,660
            closing balance                               0.4    £17,660

Converted to pounds at the rate stored for the trade's minute:
  t-usd (BTC-USD, 2025-09-01 12:00 UTC): 5000.00 USD and fee 30.00 USD converted at USD-GBP 0.75 \
(stored for 2025-09-01 12:00 UTC) to £3,750.00 and £22.50

Whole pounds as HMRC's examples round: proceeds rounded down, a gain down and a loss up, \
allowable costs the difference; a pool rounded down.
"""


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
        "KRIPTO_DATABASE_URL": settings.general.require_database_url(),
        "COLUMNS": "200",
    }


async def cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        KRIPTO, *args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_tax_report_text_json_csv_and_pdf(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    await store_tax_trades(db)
    env = cli_env(settings)

    csv_path, pdf_path = tmp_path / "gains.csv", tmp_path / "gains.pdf"
    # The three runs at once: they only read.
    text_run, json_run, bad_run = await asyncio.gather(
        cli(["tax", "--year", "2025-26"], env, tmp_path),
        cli(
            ["tax", "--year", "2025-26", "--json", "--csv", str(csv_path), "--pdf", str(pdf_path)],
            env,
            tmp_path,
        ),
        cli(["tax", "--year", "2025/26"], env, tmp_path),
    )
    assert text_run == (0, REPORT, "")

    code, out, err = json_run
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["year"], data["from"], data["to"], data["annualExemptAmount"]) == (
        "2025-26",
        "2025-04-06",
        "2026-04-05",
        "3000",
    )
    assert data["totals"] == {
        "disposals": 3,
        "proceeds": "10500",
        "allowableCosts": "10118",
        "gains": "1099",
        "losses": "717",
        "netGains": "382",
    }
    assert [(d["date"], d["gain"], d["trades"]) for d in data["disposals"]] == [
        ("2025-05-20", "946", ["t-sell-1"]),
        ("2025-06-20", "153", ["t-sell-2"]),
        ("2026-01-15", "-717", ["t-loss"]),
    ]
    # The bed and breakfast match names the acquisition it used, with its exact cost.
    assert data["disposals"][1]["matches"] == [
        {"rule": "30 day", "quantity": "0.1", "acquired": "2025-07-01", "cost": "3822.80"}
    ]
    # Beside the rounded figures, the exact ones: £19,868.50 x 0.05 / 0.45 + £9.00 of fees.
    exact = data["disposals"][2]["exact"]
    assert (exact["proceeds"], exact["fees"]) == ("1500.00", "9.00")
    assert exact["allowableCosts"].startswith("2216.6111111")
    assert data["pools"][0]["closing"] == {"quantity": "0.4", "cost": "17660"}
    header, *rows = csv.reader(csv_path.read_text().splitlines())
    assert header == [
        "date",
        "asset",
        "quantity",
        "proceeds_gbp",
        "allowable_costs_gbp",
        "gain_gbp",
        "matching",
        "trades",
    ]
    assert [(r[0], r[3], r[4], r[5], r[6], r[7]) for r in rows] == [
        ("2025-05-20", "5000", "4054", "946", "section 104: 0.1 (£4,024); fees £30.00", "t-sell-1"),
        (
            "2025-06-20",
            "4000",
            "3847",
            "153",
            "30 day 01/07/2025: 0.1 (£3,823); fees £24.00",
            "t-sell-2",
        ),
        ("2026-01-15", "1500", "2217", "-717", "section 104: 0.05 (£2,208); fees £9.00", "t-loss"),
    ]
    assert [(r[1], r[2]) for r in rows] == [("BTC", "0.1"), ("BTC", "0.1"), ("BTC", "0.05")]
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF-")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Gains in the year, before losses" in text and "£1,099" in text

    code, out, err = bad_run
    assert (code, out) == (2, "")
    assert err == (
        "error: --year: '2025/26' is not a UK tax year; write it as YYYY-YY, e.g. 2025-26"
        " (6 April 2025 to 5 April 2026)\n"
    )


async def test_another_quote_currency_needs_the_rate_stored_for_its_minute(db: Database) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from kripto.errors import InvalidInput
    from kripto.tax.ledger import load_ledger

    await db.pool.execute(
        "INSERT INTO trades (trade_id, exchange_order_id, client_order_id, side, product_id,"
        " funds, filled_size, executed_value, fill_fees, settled, created_at)"
        " VALUES ('t-eur', 'o', 'c', 'buy', 'BTC-EUR', 1200, 0.02, 1200, 6, true, $1)",
        datetime(2025, 7, 1, 9, 30, 45, tzinfo=UTC),
    )
    with pytest.raises(InvalidInput) as raised:
        await load_ledger(db)
    assert str(raised.value) == (
        "trade t-eur (BTC-EUR) is quoted in EUR: no EUR-GBP or GBP-EUR rate is stored for"
        " 2025-07-01 09:30 UTC, the minute it was made, so it cannot be put in pounds"
    )
    # A rate the other way round (euros per pound) divides.
    await db.pool.execute(
        "INSERT INTO rates (product_id, date_time, rate, source)"
        " VALUES ('GBP-EUR', '2025-07-01T09:30:00Z', 1.2, 'csv')"
    )
    ledger = await load_ledger(db)
    [trade] = ledger.trades
    assert (trade.asset, trade.value, trade.fee) == ("BTC", Decimal(1000), Decimal(5))
    assert [c.line for c in ledger.conversions] == [
        "t-eur (BTC-EUR, 2025-07-01 09:30 UTC): 1200 EUR and fee 6 EUR converted at GBP-EUR 1.2"
        " (stored for 2025-07-01 09:30 UTC) to £1,000.00 and £5.00"
    ]
