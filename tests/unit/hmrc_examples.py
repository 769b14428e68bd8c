"""HMRC's worked examples from the Cryptoassets Manual, as inputs and HMRC's published results.

Each example's trades are HMRC's; its "20XX" is placed in a real year (the rules need dates),
and a pool that HMRC says someone already holds is an acquisition long before (more than 30 days,
so no rule but the pool can reach it). The figures are HMRC's, to the pound:
https://www.gov.uk/hmrc-internal-manuals/cryptoassets-manual/crypto22251 (and 22252 to 22256,
and 22280 for a fee paid in tokens).

Where each figure was read: the whole published text of 22251, 22252, 22254 and 22255; 22253
up to its two gains (its closing pool is HMRC's "200 token C and their associated cost of £60"
added to the £1,000 pool); 22256 up to the 31 July gain and the 5 August match (its 5 August
gain, the 7 August cost of £313,637 and loss of £163,637 are HMRC's as quoted by a public
test suites, and the closing £31,363 is £345,000 less that cost); 22280 up to Terri's pool
before the sale (its £5,005 consideration, £2,002 pool cost, £5 fee and £2,998 gain are HMRC's
as quoted by a public test suite, and the closing pool is 10,000 less 1,001 tokens and £20,000
less £2,002)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from kripto.tax.engine import Rule, Side, Trade

D = Decimal


@dataclass(frozen=True)
class Expected:
    """One disposal as HMRC computes it: day, consideration, allowable costs, gain (negative:
    a loss), and the parts HMRC lists (rule, quantity, acquisition day or None, cost)."""

    day: date
    proceeds: Decimal
    costs: Decimal
    gain: Decimal
    matches: tuple[tuple[Rule, Decimal, date | None, Decimal], ...]


@dataclass(frozen=True)
class Example:
    ref: str
    title: str
    trades: tuple[Trade, ...]
    disposals: tuple[Expected, ...]
    pool: tuple[Decimal, Decimal]  # HMRC's closing pool: quantity, pooled cost in pounds


def _t(
    n: int, side: str, day: str, quantity: str, value: str, fee: str = "0", hour: int = 12
) -> Trade:
    at = datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)
    return Trade(f"t{n}", "TOKEN", Side(side), at, D(quantity), D(value), D(fee))


SD, TD, S104 = Rule.SAME_DAY, Rule.THIRTY_DAY, Rule.SECTION_104

EXAMPLES: tuple[Example, ...] = (
    Example(
        "CRYPTO22251",
        "basic section 104 pool disposal (Victoria)",
        (
            _t(1, "buy", "2025-01-10", "100", "1000"),
            _t(2, "buy", "2025-09-18", "50", "125000"),
            _t(3, "sell", "2025-12-01", "50", "300000"),
        ),
        (
            Expected(
                date(2025, 12, 1), D(300000), D(42000), D(258000), ((S104, D(50), None, D(42000)),)
            ),
        ),
        (D(100), D(84000)),
    ),
    Example(
        "CRYPTO22252",
        "application of the same day rule (Martyn)",
        (
            _t(1, "buy", "2025-01-10", "5000", "500"),
            _t(2, "sell", "2025-06-23", "1000", "800", hour=8),
            _t(3, "buy", "2025-06-23", "1600", "1000", hour=14),
            _t(4, "sell", "2025-06-23", "500", "600", hour=19),
        ),
        (
            Expected(
                date(2025, 6, 23),
                D(1400),
                D(938),
                D(462),
                ((SD, D(1500), date(2025, 6, 23), D(938)),),
            ),
        ),
        (D(5100), D(562)),
    ),
    Example(
        "CRYPTO22253",
        "application of the 30 day rule (Rachel)",
        (
            _t(1, "buy", "2024-12-02", "2000", "1000"),
            _t(2, "sell", "2025-03-31", "1000", "400"),
            _t(3, "sell", "2025-04-20", "500", "150"),
            _t(4, "buy", "2025-04-21", "700", "175"),
            _t(5, "buy", "2025-04-28", "500", "100"),
            _t(6, "buy", "2025-05-01", "500", "150"),
        ),
        (
            Expected(
                date(2025, 3, 31),
                D(400),
                D(235),
                D(165),
                ((TD, D(700), date(2025, 4, 21), D(175)), (TD, D(300), date(2025, 4, 28), D(60))),
            ),
            Expected(
                date(2025, 4, 20),
                D(150),
                D(130),
                D(20),
                ((TD, D(200), date(2025, 4, 28), D(40)), (TD, D(300), date(2025, 5, 1), D(90))),
            ),
        ),
        (D(2200), D(1060)),
    ),
    Example(
        "CRYPTO22254",
        "interaction of same day rule with section 104 pool (Daniel)",
        (
            _t(1, "buy", "2024-11-01", "8000", "1000"),
            _t(2, "sell", "2025-01-31", "5000", "500", hour=9),
            _t(3, "buy", "2025-01-31", "4000", "320", hour=10),
            _t(4, "buy", "2025-01-31", "1000", "75", hour=11),
            _t(5, "buy", "2025-01-31", "1000", "70", hour=12),
            _t(6, "sell", "2025-01-31", "2000", "142", hour=13),
            _t(7, "buy", "2025-01-31", "500", "35", hour=14),
        ),
        (
            Expected(
                date(2025, 1, 31),
                D(642),
                D(563),
                D(79),
                ((SD, D(6500), date(2025, 1, 31), D(500)), (S104, D(500), None, D(63))),
            ),
        ),
        (D(7500), D(937)),
    ),
    Example(
        "CRYPTO22255",
        "interaction of 30 day rule with section 104 pool (Melanie)",
        (
            _t(1, "buy", "2025-05-01", "14000", "200000"),
            _t(2, "sell", "2025-08-30", "4000", "160000"),
            _t(3, "buy", "2025-09-11", "500", "17500"),
        ),
        (
            Expected(
                date(2025, 8, 30),
                D(160000),
                D(67500),
                D(92500),
                ((TD, D(500), date(2025, 9, 11), D(17500)), (S104, D(3500), None, D(50000))),
            ),
        ),
        (D(10500), D(150000)),
    ),
    Example(
        "CRYPTO22256",
        "interaction of same day rule, 30 day rule and section 104 pool (Gulferaz)",
        (
            _t(1, "buy", "2025-05-01", "100000", "300000"),
            _t(2, "buy", "2025-07-31", "10000", "45000", hour=9),
            _t(3, "sell", "2025-07-31", "30000", "150000", hour=15),
            _t(4, "sell", "2025-08-05", "20000", "100000"),
            _t(5, "buy", "2025-08-06", "50000", "225000"),
            _t(6, "sell", "2025-08-07", "100000", "150000"),
        ),
        (
            Expected(
                date(2025, 7, 31),
                D(150000),
                D(135000),
                D(15000),
                (
                    (SD, D(10000), date(2025, 7, 31), D(45000)),
                    (TD, D(20000), date(2025, 8, 6), D(90000)),
                ),
            ),
            Expected(
                date(2025, 8, 5),
                D(100000),
                D(90000),
                D(10000),
                ((TD, D(20000), date(2025, 8, 6), D(90000)),),
            ),
            Expected(
                date(2025, 8, 7),
                D(150000),
                D(313637),
                D(-163637),
                ((S104, D(100000), None, D(313637)),),
            ),
        ),
        (D(10000), D(31363)),
    ),
    Example(
        "CRYPTO22280",
        "fees satisfied in tokens (Terri): the 1-token fee is disposed of at its £5 market value"
        " and the £5 is an allowable cost",
        (
            _t(1, "buy", "2025-05-01", "10000", "20000"),
            # The sale of 1,000 tokens for £5,000, with the fee's £5 as its allowable cost...
            _t(2, "sell", "2025-09-01", "1000", "5000", fee="5"),
            # ...and the 1 token given as the fee, disposed of for its market value.
            _t(3, "sell", "2025-09-01", "1", "5"),
        ),
        (
            Expected(
                date(2025, 9, 1),
                D(5005),
                D(2007),
                D(2998),
                ((S104, D(1001), None, D(2002)),),
            ),
        ),
        (D(8999), D(17998)),
    ),
)
