"""UK tax years (6 April to 5 April), their annual exempt amounts, and the 30 October 2024
change of Capital Gains Tax rates, which splits 2024-25 in two on the Self Assessment pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from kripto.errors import InvalidInput

#: The tax day is the UK's calendar day: a trade at 23:30 UTC in summer is on the next day.
UK = ZoneInfo("Europe/London")

#: The annual exempt amount for individuals, by the year a tax year starts (gov.uk, "Capital
#: Gains Tax: what you pay it on, rates and allowances").
ANNUAL_EXEMPT_AMOUNTS: dict[int, Decimal] = {
    2015: Decimal(11100),
    2016: Decimal(11100),
    2017: Decimal(11300),
    2018: Decimal(11700),
    2019: Decimal(12000),
    2020: Decimal(12300),
    2021: Decimal(12300),
    2022: Decimal(12300),
    2023: Decimal(6000),
    2024: Decimal(3000),
    2025: Decimal(3000),
    2026: Decimal(3000),
}

#: CGT rates changed for disposals made on or after this day (Autumn Budget 2024), so 2024-25's
#: return asks for the gains before it and from it separately.
RATE_CHANGE = date(2024, 10, 30)

_YEAR = re.compile(r"(\d{4})-(\d{2})")


def uk_day(at: datetime) -> date:
    """The UK calendar day of an aware time."""
    if at.tzinfo is None:
        raise ValueError(f"a naive time cannot be placed on a UK day: {at.isoformat()}")
    return at.astimezone(UK).date()


@dataclass(frozen=True)
class Period:
    """Part of a tax year whose disposals are reported together."""

    label: str
    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


@dataclass(frozen=True)
class TaxYear:
    start_year: int

    @property
    def name(self) -> str:
        return f"{self.start_year}-{(self.start_year + 1) % 100:02d}"

    @property
    def first(self) -> date:
        return date(self.start_year, 4, 6)

    @property
    def last(self) -> date:
        return date(self.start_year + 1, 4, 5)

    @property
    def annual_exempt_amount(self) -> Decimal:
        return ANNUAL_EXEMPT_AMOUNTS[self.start_year]

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    @property
    def periods(self) -> list[Period]:
        """The whole year, or (2024-25) the days before the rate change and the days from it."""
        if RATE_CHANGE in self and self.first != RATE_CHANGE:
            before = date.fromordinal(RATE_CHANGE.toordinal() - 1)
            return [
                Period(f"{_long(self.first)} to {_long(before)}", self.first, before),
                Period(f"{_long(RATE_CHANGE)} to {_long(self.last)}", RATE_CHANGE, self.last),
            ]
        return [Period(f"{_long(self.first)} to {_long(self.last)}", self.first, self.last)]

    @staticmethod
    def containing(day: date) -> TaxYear:
        return TaxYear(day.year if day >= date(day.year, 4, 6) else day.year - 1)


def _long(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def parse_tax_year(text: str) -> TaxYear:
    """`2025-26` is the year from 6 April 2025 to 5 April 2026; anything else is refused with
    the rule it breaks."""
    known = f"{min(ANNUAL_EXEMPT_AMOUNTS)}-{(min(ANNUAL_EXEMPT_AMOUNTS) + 1) % 100:02d}"
    latest = f"{max(ANNUAL_EXEMPT_AMOUNTS)}-{(max(ANNUAL_EXEMPT_AMOUNTS) + 1) % 100:02d}"
    match = _YEAR.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(
            f"--year: {text!r} is not a UK tax year; write it as YYYY-YY, e.g. 2025-26"
            " (6 April 2025 to 5 April 2026)"
        )
    start, end = int(match[1]), int(match[2])
    if end != (start + 1) % 100:
        raise InvalidInput(
            f"--year: {text!r} is not a UK tax year; a tax year runs 6 April to 5 April, so the"
            f" second part is the next year: {start}-{(start + 1) % 100:02d}"
        )
    if start not in ANNUAL_EXEMPT_AMOUNTS:
        raise InvalidInput(
            f"--year: no annual exempt amount is known for {text}; years {known} to {latest}"
            " are supported"
        )
    return TaxYear(start)
