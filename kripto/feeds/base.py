from __future__ import annotations

from datetime import datetime
from typing import Protocol

from kripto.models import Rate


class RateFeed(Protocol):
    """Gives the rate for a product at a tick. A retried call for the same tick may ask again."""

    async def rate(self, product_id: str, at: datetime) -> Rate: ...

    async def close(self) -> None: ...
