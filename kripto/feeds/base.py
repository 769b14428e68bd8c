from __future__ import annotations

from datetime import datetime
from typing import Protocol

from kripto.models import Prices, Rate


class RateFeed(Protocol):
    """Gives the rate for a product at a tick. A retried call for the same tick may ask again."""

    async def rate(self, product_id: str, at: datetime, *, now: datetime | None = None) -> Rate:
        """The rate for the tick at `at`; `now` is when it is asked (the server's clock when
        Temporal runs it; the local clock by default)."""
        ...

    async def rates(
        self, products: list[str], at: datetime, *, now: datetime | None = None
    ) -> Prices:
        """Every product's rate for the tick at `at`, in as few requests as the source allows."""
        ...

    async def close(self) -> None: ...
