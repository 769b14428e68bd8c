"""A simulated BTC-GBP feed for paper mode when Coinbase cannot be reached.

The price is a pure function of (seed, product, time): a retried activity for the same tick gets
the same price, and a restart does not change history. Every rate it makes says `simulated`.
Within a minute the price walks, second by second, from the minute's rate: the paper exchange
reads it when an order arrives and while a maker order rests.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from decimal import Decimal

from kripto.models import Prices, Rate
from kripto.money import PENNY

DAY = 86_400.0
#: The largest step of the walk within a minute, a fraction of the price, each second: about
#: 0.05% (£27 at £60,000) over a minute, a few times the paper spread (KRIPTO_PAPER_SPREAD).
WALK_STEP = 0.0001


class SimulatedFeed:
    def __init__(self, seed: int = 42, base_price: Decimal = Decimal("60000")) -> None:
        self.seed = seed
        self.base_price = base_price

    def price_at(self, product_id: str, at: datetime) -> Decimal:
        """The price at `at`. At a whole minute it is the minute's rate (what a tick stores);
        within the minute it walks on from there, a step a second, so a resting maker order
        on the dev stack fills, or does not, within its window as it would on a real book."""
        t = at.astimezone(UTC).timestamp()
        minute = int(t // 60) * 60
        phase = self._unit(product_id, 0) * 2 * math.pi
        # Slow drift, a daily cycle, a few-hour swell, and per-tick noise.
        drift = 0.08 * math.sin(2 * math.pi * minute / (29 * DAY) + phase)
        daily = 0.02 * math.sin(2 * math.pi * minute / DAY + phase)
        swell = 0.01 * math.sin(2 * math.pi * minute / (3.7 * 3600) + 2 * phase)
        noise = 0.002 * (2 * self._unit(product_id, minute) - 1)
        walk = sum(
            WALK_STEP * (2 * self._unit(f"{product_id}:walk", minute + s) - 1)
            for s in range(1, int(t) - minute + 1)
        )
        factor = Decimal(repr(1 + drift + daily + swell + noise + walk))
        return (self.base_price * factor).quantize(PENNY)

    async def rate(self, product_id: str, at: datetime, *, now: datetime | None = None) -> Rate:
        return Rate(
            product_id=product_id,
            rate=self.price_at(product_id, at),
            date_time=at,
            source="simulated",
            fetched_at=datetime.now(UTC),
        )

    async def rates(
        self, products: list[str], at: datetime, *, now: datetime | None = None
    ) -> Prices:
        """Every product's price in one call, as the Coinbase feed's pages do."""
        prices = {p: self.price_at(p, at) for p in products}
        return Prices(at=at, source="simulated", prices=prices, fetched_at=datetime.now(UTC))

    async def close(self) -> None:
        return None

    def _unit(self, product_id: str, tick: int) -> float:
        digest = hashlib.sha256(f"{self.seed}:{product_id}:{tick}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64
