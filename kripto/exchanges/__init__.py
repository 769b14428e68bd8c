"""Exchanges: the paper exchange (Postgres) and Coinbase Advanced Trade (live), behind one
protocol. Both are idempotent on the client order ID."""

from kripto.exchanges.base import Exchange

__all__ = ["Exchange"]
