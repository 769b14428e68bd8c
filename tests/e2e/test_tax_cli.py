"""`kripto tax` as a person runs it, on trades stored in Postgres: the text report, the same
figures as JSON, the CSV (a line per disposal) and the PDF, and a bad --year refused in one
line naming the rule."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from kripto.db import Database
from kripto.settings import Settings
from tests.e2e.tax_trades import store_tax_trades

pytestmark = pytest.mark.e2e
KRIPTO = str(Path(sys.executable).with_name("kripto"))

REPORT = """\
UK Capital Gains Tax, 2025-26 (6 April 2025 to 5 April 2026)
Matched by HMRC's rules for cryptoassets: same day, then 30 days, then the
Section 104 pool.

Self Assessment: cryptoassets (SA108)
                       Whole year
Number of disposals             3
Disposal proceeds         £10,500
  exact, to the penny  £10,500.00
Allowable costs           £10,118
  exact, to the penny  £10,117.41
Gains before losses        £1,099
  exact, to the penny   £1,099.20
Losses                       £717
  exact, to the penny     £716.61

Net gains in the year:        £382
Losses brought forward used:  £0 of £0
Annual exempt amount:         £3,000
Taxable gains:                £0
Losses to carry forward:      £0
Losses brought forward are used only down to the annual exempt amount; the rest
carry forward, with any net loss of the year (claim it on the return to keep
it).

Disposals (a day's disposals of an asset are one disposal)
Date            Quantity   Proceeds      Costs  Gain/loss
2025-05-20           0.1     £5,000     £4,054       £946
            to the penny  £5,000.00  £4,054.00    £946.00
  BTC: section 104: 0.1 (£4,024.00); fees £30.00
2025-06-20           0.1     £4,000     £3,847       £153
            to the penny  £4,000.00  £3,846.80    £153.20
  BTC: 30 day 01/07/2025: 0.1 (£3,822.80); fees £24.00
2026-01-15          0.05     £1,500     £2,217      -£717
            to the penny  £1,500.00  £2,216.61   -£716.61
  BTC: section 104: 0.05 (£2,207.61); fees £9.00

Section 104 pool: BTC
Date        Change    Quantity     Cost  Pool quantity  Pool cost
            opening                                  0         £0
2025-04-10  acquired       0.5  £20,120            0.5    £20,120
2025-05-20  disposal      -0.1  -£4,024            0.4    £16,096
2025-09-01  acquired      0.05   £3,772           0.45    £19,868
2026-01-15  disposal     -0.05  -£2,208            0.4    £17,660
            closing                                0.4    £17,660

Converted to pounds at the rate stored for the trade's minute:
  t-usd (BTC-USD, 2025-09-01 12:00 UTC): 5000.00 USD and fee 30.00 USD converted
    at USD-GBP 0.75 (stored for 2025-09-01 12:00 UTC) to £3,750.00 and £22.50

Each figure is kept exact (to the penny and beyond) and rounded once, to whole
pounds, in the taxpayer's favour as HMRC asks: proceeds and gains rounded down,
allowable costs and losses rounded up (the Tax Return's whole-pounds rule;
HMRC's cryptoasset examples CRYPTO22251-22256 state each part this way). A
year's box is rounded from the exact total of its disposals, never added up from
rounded ones. Pools are shown rounded down.
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
        "exact": {
            "proceeds": "10500.00",
            "allowableCosts": "10117.41",
            "gains": "1099.20",
            "losses": "716.61",
            "netGains": "382.59",
        },
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
    # The CSV holds the trades the report used, in the format --trades reads: computed from it
    # alone (no books), the report is the same.
    header, *rows = csv.reader(csv_path.read_text().splitlines())
    assert header == ["time", "side", "size", "value", "fee", "asset", "trade"]
    assert [r[6] for r in rows] == ["t-open", "t-sell-1", "t-sell-2", "t-back", "t-usd", "t-loss"]
    # The BTC-USD buy in pounds, as converted at the stored rate.
    assert rows[4][:3] == ["2025-09-01T12:00:30Z", "buy", "0.05"]
    assert (Decimal(rows[4][3]), Decimal(rows[4][4])) == (Decimal("3750"), Decimal("22.5"))
    again = await cli(
        ["tax", "--year", "2025-26", "--trades", str(csv_path), "--no-books"], env, tmp_path
    )
    assert again[0] == 0
    same = REPORT.split("\nConverted to pounds")[0]
    assert again[1].startswith(same + "\nTrades from files:\n")
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert shutil.which("pdftotext"), (
        "pdftotext is missing: it reads back the tax PDF; `make sysdeps` installs it (Debian"
        " package poppler-utils)"
    )
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Gains before losses        £1,099" in text
    assert "  exact, to the penny     £716.61" in text

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


#: HMRC's CRYPTO22256 (Gulferaz), as a person would write it in the plain format.
GULFERAZ = """\
time,side,size,value,fee
2025-05-01T12:00:00Z,buy,100000,300000,0
2025-07-31T09:00:00Z,buy,10000,45000,0
2025-07-31T15:00:00Z,sell,30000,150000,0
2025-08-05T12:00:00Z,sell,20000,100000,0
2025-08-06T12:00:00Z,buy,50000,225000,0
2025-08-07T12:00:00Z,sell,100000,150000,0
"""


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))}
    return subprocess.run(
        [KRIPTO, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_an_hmrc_worked_example_from_a_file_with_no_stack(tmp_path: Path) -> None:
    path = tmp_path / "gulferaz.csv"
    path.write_text(GULFERAZ)
    done = run_cli(
        ["tax", "--year", "2025-26", "--trades", str(path), "--no-books", "--json"], tmp_path
    )
    assert (done.returncode, done.stderr) == (0, "")
    data = json.loads(done.stdout)
    # HMRC's figures: £15,000 and £10,000 gains, a £163,637 loss, a pool of 10,000 at £31,363.
    assert [
        (d["date"], d["proceeds"], d["allowableCosts"], d["gain"]) for d in data["disposals"]
    ] == [
        ("2025-07-31", "150000", "135000", "15000"),
        ("2025-08-05", "100000", "90000", "10000"),
        ("2025-08-07", "150000", "313637", "-163637"),
    ]
    assert data["pools"][0]["closing"] == {"quantity": "10000", "cost": "31363"}
    assert {k: data["totals"][k] for k in ("disposals", "gains", "losses")} == {
        "disposals": 3,
        "gains": "25000",
        "losses": "163637",
    }


def test_a_bad_row_stops_the_report_naming_file_line_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(GULFERAZ.replace("2025-08-05T12:00:00Z,sell", "2025-08-05T12:00:00Z,swap"))
    done = run_cli(["tax", "--trades", str(path), "--no-books"], tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"error: --trades {path}: line 5: side 'swap' must be buy or sell; nothing was computed\n"
    )
    bad_losses = run_cli(
        ["tax", "--trades", str(path), "--no-books", "--losses-brought-forward", "lots"], tmp_path
    )
    assert (bad_losses.returncode, bad_losses.stdout) == (2, "")
    assert bad_losses.stderr == (
        "error: --losses-brought-forward: 'lots' must be an amount of pounds of 0 or more,"
        " e.g. 1250.00\n"
    )


def test_no_year_reports_the_current_tax_year(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from kripto.tax.years import TaxYear, uk_day

    path = tmp_path / "gulferaz.csv"
    path.write_text(GULFERAZ)
    done = run_cli(["tax", "--trades", str(path), "--no-books", "--json"], tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout)["year"] == TaxYear.containing(uk_day(datetime.now(UTC))).name
