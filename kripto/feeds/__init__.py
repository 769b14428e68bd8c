"""Where rates come from: Coinbase's public spot price, or a simulated feed for paper mode."""

from kripto.feeds.base import RateFeed
from kripto.feeds.coinbase import CoinbaseSpotFeed
from kripto.feeds.simulated import SimulatedFeed

__all__ = ["CoinbaseSpotFeed", "RateFeed", "SimulatedFeed"]
