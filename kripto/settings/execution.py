"""How a trade's orders go to the exchange: maker-first or taker (docs/execution.md)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from kripto.execution import Execution, MakerFallback, StaleQuote
from kripto.settings.base import Section


class ExecutionSection(Section):
    """How a trade's orders go to the exchange: maker-first or taker, and the paper exchange's
    book (docs/execution.md)."""

    #: `maker_first`: a post-only limit order at the touch first, then the fallback; `taker`: a
    #: market order, as before.
    execution: Execution = Execution.MAKER_FIRST
    #: How long a maker order rests: its GTD end time, so the exchange cancels it by itself.
    maker_window: timedelta = timedelta(minutes=2)
    #: Re-quote when the touch moves away from the resting order's price by more than this
    #: fraction of the price (0.0005 = 0.05%, £30 at £60,000).
    requote_after: Decimal = Decimal("0.0005")
    #: At most this many re-quotes (cancel and place again at the new touch) per trade.
    max_requotes: int = Field(3, ge=0, le=20)
    #: The taker fallback's price cap, as a fraction from the touch (an IOC limit at the best
    #: ask * (1 + this) for a buy, the best bid * (1 - this) for a sell); `off`: a market order.
    max_slippage: Decimal | None = Decimal("0.005")
    #: A decision's unfilled remainder when the window ends: `taker` or `skip` (dropped, with
    #: the reason recorded). A person's trade always falls back unless `--maker-only`.
    maker_fallback: MakerFallback = MakerFallback.TAKER
    #: A best bid/ask older than this is stale.
    quote_max_age: timedelta = timedelta(seconds=5)
    #: A stale or unreadable best bid/ask: `taker` (a capped taker order) or `hold`.
    stale_quote: StaleQuote = StaleQuote.TAKER
    #: The paper exchange's bid-ask spread, a fraction of the price split evenly around it:
    #: 0.0002 (0.02%, £12 at £60,000), about Coinbase's BTC-GBP book on an ordinary day.
    paper_spread: Decimal = Decimal("0.0002")
    #: Where the paper exchange's price comes from: `feed`, the rate feed's price when the order
    #: arrives (the simulated feed's at that second, or Coinbase's spot price); `stored`, the
    #: newest stored rate (Kripto before issue 23; it reproduces the seed's arithmetic).
    paper_price: Literal["feed", "stored"] = "feed"
    #: Maker orders are refused while this machine's clock is further than this from the
    #: exchange's (a GTD end time would be wrong).
    max_clock_skew: timedelta = timedelta(seconds=5)

    @field_validator("max_slippage", mode="before")
    @classmethod
    def _slippage_off(cls, value: object) -> object:
        """`off` (or empty, or 0): the taker fallback is a market order, uncapped."""
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off")):
            return None
        return value

    @field_validator("max_slippage", "requote_after", "paper_spread")
    @classmethod
    def _small_fraction(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is None:
            return None
        if not value.is_finite() or not Decimal(0) <= value < Decimal("0.1"):
            raise ValueError("must be a fraction from 0 to below 0.1, for example 0.0005")
        if value == 0 and info.field_name == "max_slippage":
            return None
        return value
