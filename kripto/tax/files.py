"""A person's other BTC transactions, from files, for the tax report's pools (`kripto tax
--trades FILE`). HMRC pools every token of a kind that a person holds, wherever it was bought,
so trades made elsewhere change the gains of Kripto's own.

Two formats are read, told apart by their header:

- Kripto's plain CSV, `time,side,size,value,fee` (any further columns are ignored; an `asset`
  column, if there, names the asset, else BTC): time in UTC as ISO 8601 (`2025-05-01T09:30:00Z`;
  a time with no zone is UTC), side `buy` or `sell`, the coin size, its value in pounds and the
  fee in pounds. `kripto tax --csv` writes this format, so its file reads back.
- Coinbase's transaction history export (Statements → Transaction history, CSV): a few lines
  of preamble ("You can use this transaction report…", "Transactions", "User,…"), then the
  header `ID,Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,Price at
  Transaction,Subtotal,Total (inclusive of fees and/or spread),Fees and/or Spread,Notes` (older
  exports have no ID column and say `Spot Price Currency` and `Spot Price at Transaction`).
  Money may carry a currency sign (`£1,000.00`, `-£5.00`); a sell's quantity and subtotal may be
  negative. Buy, Sell, Advanced Trade Buy and Advanced Trade Sell rows are trades: the size is
  Quantity Transacted, the value the Subtotal, the fee Fees and/or Spread. Send, Receive,
  Deposit and Withdrawal rows move coins between a person's own wallets and are no disposal, so
  they are left out (and counted). Any other type (Convert, Staking Income, …) is refused: its
  tax treatment needs a person's decision; write it as plain CSV lines.

Every row is checked before anything is computed; the first bad row stops the report with its
file, line and rule.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from kripto.errors import InvalidInput
from kripto.tax.engine import ZERO, Side, Trade

PLAIN = ("time", "side", "size", "value", "fee")
COINBASE_TRADES = {
    "buy": Side.BUY,
    "advanced trade buy": Side.BUY,
    "sell": Side.SELL,
    "advanced trade sell": Side.SELL,
}
COINBASE_TRANSFERS = frozenset(
    {
        "send",
        "receive",
        "deposit",
        "withdrawal",
        "pro deposit",
        "pro withdrawal",
        "exchange deposit",
        "exchange withdrawal",
    }
)
#: How far into a Coinbase export its header may be (after the preamble).
PREAMBLE_LINES = 12


@dataclass
class TradeFile:
    """What one file gave: its trades, its format, and the rows left out (by type)."""

    path: Path
    kind: str
    trades: list[Trade] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def note(self) -> str:
        what = f"{self.path}: {len(self.trades)} trade{'s' if len(self.trades) != 1 else ''}"
        what += f" ({self.kind})"
        if self.skipped:
            left = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped.items()))
            what += f"; left out as transfers between own wallets: {left}"
        return what


def read_trade_files(paths: list[Path]) -> list[TradeFile]:
    return [read_trade_file(p) for p in paths]


def read_trade_file(path: Path) -> TradeFile:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"--trades {path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"--trades {path}: is not UTF-8 text (a CSV file is)") from None
    rows = list(csv.reader(io.StringIO(text)))
    for n, row in enumerate(rows[:PREAMBLE_LINES]):
        names = [c.strip().lower() for c in row]
        if n == 0 and set(PLAIN) <= set(names):
            return _plain(path, names, rows)
        if "timestamp" in names and "transaction type" in names:
            return _coinbase(path, names, rows, n)
    raise InvalidInput(
        f"--trades {path}: line 1: no header of a known format: a plain CSV starts"
        f" `{','.join(PLAIN)}`, a Coinbase transaction history has a `Timestamp,Transaction"
        " Type,…` line"
    )


def _fail(path: Path, line: int, rule: str) -> InvalidInput:
    return InvalidInput(f"--trades {path}: line {line}: {rule}; nothing was computed")


def _time(path: Path, line: int, text: str, column: str) -> datetime:
    cleaned = text.strip()
    if cleaned.endswith(" UTC"):
        cleaned = cleaned.removesuffix(" UTC").replace(" ", "T")
    try:
        at = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(
            path, line, f"{column} {text!r} is not a UTC time such as 2025-05-01T09:30:00Z"
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _amount(
    path: Path, line: int, text: str, column: str, *, sign_ok: bool = False, empty: bool = False
) -> Decimal:
    cleaned = text.strip().replace(",", "")
    negative = cleaned.startswith("-")
    cleaned = cleaned.lstrip("-").lstrip("£").strip()
    if not cleaned and empty:
        return ZERO
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0 or (negative and not sign_ok):
        raise _fail(path, line, f"{column} {text!r} must be a number of 0 or more")
    return value


def _plain(path: Path, names: list[str], rows: list[list[str]]) -> TradeFile:
    found = TradeFile(path, "plain CSV")
    at = {name: names.index(name) for name in (*PLAIN, "asset", "trade") if name in names}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(names):
            raise _fail(path, n, f"{len(row)} columns where the header has {len(names)}")
        side_text = row[at["side"]].strip().lower()
        if side_text not in ("buy", "sell"):
            raise _fail(path, n, f"side {row[at['side']]!r} must be buy or sell")
        size = _amount(path, n, row[at["size"]], "size")
        if size == 0:
            raise _fail(path, n, "size must be above 0")
        asset = row[at["asset"]].strip().upper() if "asset" in at else "BTC"
        ref = row[at["trade"]].strip() if "trade" in at else ""
        found.trades.append(
            Trade(
                ref or f"{path.name}:{n}",
                asset or "BTC",
                Side(side_text),
                _time(path, n, row[at["time"]], "time"),
                size,
                _amount(path, n, row[at["value"]], "value"),
                _amount(path, n, row[at["fee"]], "fee", empty=True),
            )
        )
    return found


def _column(names: list[str], *options: str) -> int | None:
    for option in options:
        if option in names:
            return names.index(option)
    return None


def _coinbase(path: Path, names: list[str], rows: list[list[str]], header: int) -> TradeFile:
    found = TradeFile(path, "Coinbase transaction history")
    cols = {
        "time": _column(names, "timestamp"),
        "type": _column(names, "transaction type"),
        "asset": _column(names, "asset"),
        "size": _column(names, "quantity transacted"),
        "currency": _column(names, "price currency", "spot price currency"),
        "subtotal": _column(names, "subtotal"),
        "fee": _column(names, "fees and/or spread", "fees"),
    }
    missing = [k for k, v in cols.items() if v is None]
    if missing:
        raise _fail(path, header + 1, f"the Coinbase header has no {', '.join(missing)} column")
    c = {k: v for k, v in cols.items() if v is not None}
    for n, row in enumerate(rows[header + 1 :], start=header + 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(names) - 1:  # Notes may be missing at the end
            raise _fail(path, n, f"{len(row)} columns where the header has {len(names)}")
        kind = row[c["type"]].strip()
        if kind.lower() in COINBASE_TRANSFERS:
            found.skipped[kind] += 1
            continue
        side = COINBASE_TRADES.get(kind.lower())
        if side is None:
            raise _fail(
                path,
                n,
                f"Transaction Type {kind!r} is not a buy or a sell; its tax treatment needs your"
                " decision: remove it and write what it was as plain CSV lines"
                f" ({','.join(PLAIN)})",
            )
        currency = row[c["currency"]].strip().upper()
        if currency != "GBP":
            raise _fail(
                path,
                n,
                f"its price currency is {currency or '(none)'}: the report is in pounds, so"
                " export the history with GBP prices",
            )
        size = _amount(path, n, row[c["size"]], "Quantity Transacted", sign_ok=True)
        if size == 0:
            raise _fail(path, n, "Quantity Transacted must be above 0")
        found.trades.append(
            Trade(
                f"{path.name}:{n}",
                row[c["asset"]].strip().upper(),
                side,
                _time(path, n, row[c["time"]], "Timestamp"),
                size,
                _amount(path, n, row[c["subtotal"]], "Subtotal", sign_ok=True),
                _amount(path, n, row[c["fee"]], "Fees and/or Spread", sign_ok=True, empty=True),
            )
        )
    return found


def write_trades_csv(trades: list[Trade], path: Path) -> None:
    """The trades in the plain format (with `asset` and `trade` columns), so `--trades` reads
    them back."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*PLAIN, "asset", "trade"])
    for t in sorted(trades, key=lambda t: (t.at, t.ref)):
        writer.writerow(
            [
                t.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                t.side.value,
                f"{t.quantity:f}",
                f"{t.value:f}",
                f"{t.fee:f}",
                t.asset,
                t.ref,
            ]
        )
    path.write_text(buffer.getvalue(), encoding="utf-8")
