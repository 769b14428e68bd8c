"""HMRC's matching rules for cryptoassets (Cryptoassets Manual CRYPTO22200): a pure function of
the trades, no I/O.

For each asset, a day's acquisitions are one acquisition and its disposals one disposal
(TCGA92/S105). A disposal is matched first with that day's acquisition (the same-day rule),
then with acquisitions in the 30 days after it, earliest first (the bed and breakfast rule,
S106A(5)), and what is left with the Section 104 pool at its average cost. Whatever of an
acquisition is not matched joins the pool. Fees are allowable costs: a buy's fee is part of its
cost, a sell's fee is an incidental cost of that disposal.

Money is exact Decimal throughout: every disposal keeps its exact proceeds, costs and gain.
Pounds appear only where a figure is reported, and each is rounded once, from its exact figure:
the year's boxes from the exact totals of its disposals (never a sum of rounded figures), and a
disposal's own line from its exact figures. The rounding is HMRC's, in the taxpayer's favour:
proceeds and gains rounded down, allowable costs and losses rounded up (the Tax Return's "enter
whole pounds, round down income and gains, round up expenses and losses"; HMRC's cryptoasset
examples CRYPTO22251-22256 state each part this way, e.g. a £62.50 cost as £63). See ROUNDING in
kripto/tax/report.py and docs/tax.md for the sources.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from kripto.errors import InvalidInput
from kripto.tax.years import Period, TaxYear, uk_day

#: How far ahead the bed and breakfast rule looks: acquisitions on the 30 days after a disposal.
THIRTY_DAYS = timedelta(days=30)
ZERO = Decimal(0)


#: Exact arithmetic divides (a pool's average cost), so a figure may carry noise in its 28th
#: digit; it is settled to a billionth of a penny before it is rounded to a pound.
_SETTLE = Decimal("1e-11")


def pounds(value: Decimal) -> Decimal:
    """Whole pounds, rounded down (towards minus infinity: a loss of £0.40 is a loss of £1)."""
    return value.quantize(_SETTLE).to_integral_value(rounding=ROUND_FLOOR)


def pounds_up(value: Decimal) -> Decimal:
    """Whole pounds, rounded up (a cost of £62.50 is listed as £63)."""
    return value.quantize(_SETTLE).to_integral_value(rounding=ROUND_CEILING)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True)
class Trade:
    """One trade in sterling: `value` is what changed hands (the fill's executed value, in GBP)
    and `fee` what the exchange charged for it (GBP, an allowable cost)."""

    ref: str
    asset: str
    side: Side
    at: datetime
    quantity: Decimal
    value: Decimal
    fee: Decimal = ZERO

    @property
    def day(self) -> date:
        return uk_day(self.at)


class Rule(StrEnum):
    SAME_DAY = "same day"
    THIRTY_DAY = "30 day"
    SECTION_104 = "section 104"


@dataclass(frozen=True)
class Match:
    """Part of a disposal identified with an acquisition: `acquired` is the acquisition's day
    (None for the pool, which has no single day)."""

    rule: Rule
    quantity: Decimal
    cost: Decimal
    acquired: date | None = None

    @property
    def cost_pounds(self) -> Decimal:
        """The part's cost as HMRC lists it: whole pounds, rounded up (£62.50 is £63)."""
        return pounds_up(self.cost)


@dataclass(frozen=True)
class Disposal:
    """A day's disposals of one asset, as one disposal."""

    asset: str
    day: date
    quantity: Decimal
    proceeds: Decimal
    fees: Decimal
    matches: tuple[Match, ...]
    refs: tuple[str, ...]

    @property
    def cost(self) -> Decimal:
        """Every allowable cost, exact: the matched acquisitions' costs and the fees."""
        return sum((m.cost for m in self.matches), ZERO) + self.fees

    @property
    def gain(self) -> Decimal:
        """Exact gain (negative for a loss)."""
        return self.proceeds - self.cost

    @property
    def proceeds_pounds(self) -> Decimal:
        return pounds(self.proceeds)

    @property
    def gain_pounds(self) -> Decimal:
        return pounds(self.gain)

    @property
    def cost_pounds(self) -> Decimal:
        """The allowable costs in whole pounds, rounded up from the exact cost (never the
        difference of two rounded figures, which could sit below the real cost)."""
        return pounds_up(self.cost)


@dataclass(frozen=True)
class PoolEntry:
    """A change to a Section 104 pool and the pool after it."""

    day: date
    what: str
    quantity: Decimal
    cost: Decimal
    pool_quantity: Decimal
    pool_cost: Decimal


@dataclass
class Pool:
    asset: str
    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    entries: list[PoolEntry] = field(default_factory=list)

    def add(self, day: date, quantity: Decimal, cost: Decimal) -> None:
        self.quantity += quantity
        self.cost += cost
        self.entries.append(PoolEntry(day, "acquired", quantity, cost, self.quantity, self.cost))

    def take(self, day: date, quantity: Decimal) -> Decimal:
        if quantity > self.quantity:
            raise InvalidInput(
                f"{self.asset}: the disposal of {quantity} on {day} needs {quantity} from the"
                f" Section 104 pool, which holds {self.quantity}: an acquisition is missing"
                " from the trades"
            )
        cost = self.cost if quantity == self.quantity else self.cost * quantity / self.quantity
        self.quantity -= quantity
        self.cost -= cost
        self.entries.append(
            PoolEntry(day, "disposed of", -quantity, -cost, self.quantity, self.cost)
        )
        return cost


@dataclass(frozen=True)
class Result:
    disposals: tuple[Disposal, ...]
    pools: dict[str, Pool]


@dataclass
class _Day:
    bought: Decimal = ZERO
    bought_cost: Decimal = ZERO
    sold: Decimal = ZERO
    proceeds: Decimal = ZERO
    fees: Decimal = ZERO
    refs: list[str] = field(default_factory=list)
    # What is left after the same-day rule and each 30-day match.
    unmatched_bought: Decimal = ZERO
    unmatched_sold: Decimal = ZERO
    matches: list[Match] = field(default_factory=list)

    def cost_of(self, quantity: Decimal) -> Decimal:
        """The cost of part of the day's acquisition (multiplied before it is divided, so a
        whole acquisition costs exactly what was paid)."""
        return self.bought_cost * quantity / self.bought


def compute(trades: Iterable[Trade]) -> Result:
    """Every disposal with its matching, and each asset's pool after all the trades."""
    by_asset: dict[str, dict[date, _Day]] = defaultdict(lambda: defaultdict(_Day))
    for trade in trades:
        _check(trade)
        day = by_asset[trade.asset][trade.day]
        if trade.side is Side.BUY:
            day.bought += trade.quantity
            day.bought_cost += trade.value + trade.fee
        else:
            day.sold += trade.quantity
            day.proceeds += trade.value
            day.fees += trade.fee
            day.refs.append(trade.ref)
    disposals: list[Disposal] = []
    pools: dict[str, Pool] = {}
    for asset in sorted(by_asset):
        asset_disposals, pools[asset] = _match(asset, by_asset[asset])
        disposals.extend(asset_disposals)
    disposals.sort(key=lambda d: (d.day, d.asset))
    return Result(tuple(disposals), pools)


def _check(trade: Trade) -> None:
    if trade.at.tzinfo is None:
        raise InvalidInput(f"trade {trade.ref}: its time must carry a time zone")
    if trade.quantity <= 0:
        raise InvalidInput(f"trade {trade.ref}: quantity must be above 0, not {trade.quantity}")
    if trade.value < 0 or trade.fee < 0:
        raise InvalidInput(f"trade {trade.ref}: value and fee must not be negative")


def _match(asset: str, days: dict[date, _Day]) -> tuple[list[Disposal], Pool]:
    order = sorted(days)
    # 1) Same day: the day's acquisition against the day's disposal, as far as possible.
    for d in order:
        day = days[d]
        same = min(day.bought, day.sold)
        day.unmatched_bought = day.bought - same
        day.unmatched_sold = day.sold - same
        if same > 0:
            day.matches.append(Match(Rule.SAME_DAY, same, day.cost_of(same), d))
    # 2) Thirty days: each disposal, earliest first, against the acquisitions of the 30 days
    #    after it, earliest first.
    for i, d in enumerate(order):
        day = days[d]
        for later in order[i + 1 :]:
            if day.unmatched_sold == 0 or later > d + THIRTY_DAYS:
                break
            acquisition = days[later]
            taken = min(day.unmatched_sold, acquisition.unmatched_bought)
            if taken > 0:
                acquisition.unmatched_bought -= taken
                day.unmatched_sold -= taken
                cost = acquisition.cost_of(taken)
                day.matches.append(Match(Rule.THIRTY_DAY, taken, cost, later))
    # 3) Section 104: in day order, what is left of an acquisition joins the pool, and what is
    #    left of a disposal comes out of it at the pool's average cost.
    pool = Pool(asset)
    disposals: list[Disposal] = []
    for d in order:
        day = days[d]
        if day.unmatched_bought > 0:
            pool.add(d, day.unmatched_bought, day.cost_of(day.unmatched_bought))
        if day.unmatched_sold > 0:
            cost = pool.take(d, day.unmatched_sold)
            day.matches.append(Match(Rule.SECTION_104, day.unmatched_sold, cost))
        if day.sold > 0:
            disposals.append(
                Disposal(
                    asset,
                    d,
                    day.sold,
                    day.proceeds,
                    day.fees,
                    tuple(day.matches),
                    tuple(day.refs),
                )
            )
    return disposals, pool


@dataclass(frozen=True)
class Exact:
    """A set of disposals' exact totals, to the penny and beyond: what each box is rounded from."""

    proceeds: Decimal = ZERO
    costs: Decimal = ZERO
    gains: Decimal = ZERO
    losses: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.gains - self.losses


@dataclass(frozen=True)
class Totals:
    """What the Self Assessment's cryptoasset section asks for, in whole pounds, each rounded
    once from the exact total of the disposals (`exact`): proceeds and gains down, allowable
    costs and losses up."""

    disposals: int
    proceeds: Decimal
    costs: Decimal
    gains: Decimal
    losses: Decimal
    exact: Exact = field(default_factory=Exact, compare=False)

    @property
    def net(self) -> Decimal:
        return self.gains - self.losses

    @staticmethod
    def of(disposals: Iterable[Disposal]) -> Totals:
        listed = list(disposals)
        exact = Exact(
            proceeds=sum((d.proceeds for d in listed), ZERO),
            costs=sum((d.cost for d in listed), ZERO),
            gains=sum((d.gain for d in listed if d.gain > 0), ZERO),
            losses=-sum((d.gain for d in listed if d.gain < 0), ZERO),
        )
        return Totals(
            disposals=len(listed),
            proceeds=pounds(exact.proceeds),
            costs=pounds_up(exact.costs),
            gains=pounds(exact.gains),
            losses=pounds_up(exact.losses),
            exact=exact,
        )


@dataclass(frozen=True)
class Allowances:
    """How the year's losses, losses brought forward and annual exempt amount meet its gains.

    Losses of the year come off its gains in full. Losses brought forward from earlier years
    are used only as far as needed to bring the net gains down to the annual exempt amount (the
    rest carry on to later years), as HMRC applies them (CG21510, HS227). The annual exempt
    amount then comes off what is left. In 2024-25 the gains from 30 October 2024 are taxed at
    the new rates (18% and 24%, not 10% and 20%), so losses and the exempt amount are set
    against those first, which gives the lowest tax (HMRC lets a person set them against the
    gains where they save most)."""

    net_gains: Decimal
    brought_forward: Decimal
    brought_forward_used: Decimal
    annual_exempt_amount: Decimal
    exempt_amount_used: Decimal
    taxable: Decimal
    #: 2024-25 only: the taxable gains before 30 October 2024 and from it.
    taxable_before: Decimal | None = None
    taxable_from: Decimal | None = None

    @property
    def carried_forward(self) -> Decimal:
        """Losses left for later years: those brought forward and not used, and this year's
        losses beyond its gains (a net loss)."""
        return self.brought_forward - self.brought_forward_used + max(ZERO, -self.net_gains)


def allowances(
    totals: Totals,
    exempt: Decimal,
    brought_forward: Decimal = ZERO,
    split: tuple[Totals, Totals] | None = None,
) -> Allowances:
    net = totals.net
    used = min(brought_forward, max(ZERO, net - exempt))
    exempt_used = min(exempt, max(ZERO, net - used))
    taxable = max(ZERO, net - used - exempt_used)
    before = after = None
    if split is not None:
        # Everything that comes off the gains, set against those from 30 October first.
        off = totals.losses + used + exempt_used
        early, late = split[0].gains, split[1].gains
        after = max(ZERO, late - off)
        before = max(ZERO, early - max(ZERO, off - late))
    return Allowances(net, brought_forward, used, exempt, exempt_used, taxable, before, after)


@dataclass(frozen=True)
class PoolStatement:
    """A pool over a tax year: its balance on the first day, the year's changes, and its
    balance on the last day."""

    asset: str
    opening_quantity: Decimal
    opening_cost: Decimal
    entries: tuple[PoolEntry, ...]

    @property
    def closing_quantity(self) -> Decimal:
        return self.entries[-1].pool_quantity if self.entries else self.opening_quantity

    @property
    def closing_cost(self) -> Decimal:
        return self.entries[-1].pool_cost if self.entries else self.opening_cost

    @staticmethod
    def of(pool: Pool, first: date, last: date) -> PoolStatement:
        before = [e for e in pool.entries if e.day < first]
        return PoolStatement(
            pool.asset,
            before[-1].pool_quantity if before else ZERO,
            before[-1].pool_cost if before else ZERO,
            tuple(e for e in pool.entries if first <= e.day <= last),
        )


@dataclass(frozen=True)
class YearReport:
    year: TaxYear
    disposals: tuple[Disposal, ...]
    periods: tuple[tuple[Period, Totals], ...]
    totals: Totals
    pools: dict[str, PoolStatement]
    allowances: Allowances

    @property
    def annual_exempt_amount(self) -> Decimal:
        return self.year.annual_exempt_amount

    @property
    def above_exempt_amount(self) -> Decimal:
        """Net gains above the annual exempt amount, after losses brought forward."""
        return self.allowances.taxable


def year_report(result: Result, year: TaxYear, brought_forward: Decimal = ZERO) -> YearReport:
    """The year's disposals and totals (per period where rates changed mid-year), how losses
    and the annual exempt amount meet the gains, and each asset's pool statement up to the
    year's end."""
    if not brought_forward.is_finite() or brought_forward < 0:
        raise InvalidInput(
            f"--losses-brought-forward: must be an amount of pounds of 0 or more, not"
            f" {brought_forward}"
        )
    disposals = tuple(d for d in result.disposals if d.day in year)
    periods = tuple((p, Totals.of(d for d in disposals if d.day in p)) for p in year.periods)
    pools = {
        asset: PoolStatement.of(pool, year.first, year.last) for asset, pool in result.pools.items()
    }
    totals = Totals.of(disposals)
    split = (periods[0][1], periods[1][1]) if len(periods) == 2 else None
    allowed = allowances(totals, year.annual_exempt_amount, brought_forward, split)
    return YearReport(year, disposals, periods, totals, pools, allowed)
