"""trade (place and settle), trade-writer (`write_trade`), receipt-emailer (`send_receipt`) and
get-wallet (`get_wallet`): thin methods over the exchange, the trades table and the receipts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from temporalio import activity

from activities.errors import temporal_errors
from kripto.db.trades import TradeRepository
from kripto.errors import InvalidInput, RetryableError
from kripto.exchanges.base import Exchange
from kripto.models import (
    Order,
    PlacedOrder,
    TradeRequest,
    TradeStep,
    Wallet,
    WalletRequest,
)
from kripto.money import fmt_gbp
from kripto.receipts import ReceiptService


@dataclass(frozen=True)
class TradeLimits:
    max_trade_gbp: Decimal
    products: tuple[str, ...]
    settle_poll_seconds: float = 2.0


class TradeActivities:
    def __init__(
        self,
        exchange: Exchange,
        trades: TradeRepository,
        receipts: ReceiptService,
        limits: TradeLimits,
    ) -> None:
        self.exchange = exchange
        self.trades = trades
        self.receipts = receipts
        self.limits = limits

    def _check_limits(self, request: TradeRequest) -> None:
        """The rules that need settings; the payload's own rules were checked on decoding."""
        if request.product_id not in self.limits.products:
            raise InvalidInput(
                f"productId {request.product_id} is not traded here"
                f" (KRIPTO_PRODUCTS is {','.join(self.limits.products)})"
            )
        if request.amount > self.limits.max_trade_gbp:
            raise InvalidInput(
                f"amount {fmt_gbp(request.amount)} is above the per-trade maximum of"
                f" {fmt_gbp(self.limits.max_trade_gbp)} (KRIPTO_MAX_TRADE_GBP)"
            )

    @activity.defn
    async def place_order(self, step: TradeStep) -> Order:
        """Check the limits, then place the order once: a recorded trade or an order already on
        the exchange under this key is returned as it is, so a retry, a re-run or a duplicate
        start places nothing."""
        with temporal_errors():
            self._check_limits(step.request)
            recorded = await self.trades.get(step.trade_id)
            if recorded is not None:
                return recorded
            existing = await self.exchange.find_order(step.trade_id)
            if existing is not None:
                return existing
            return await self.exchange.place_market_order(
                client_order_id=step.trade_id,
                product_id=step.request.product_id,
                side=step.request.trade_type,
                amount=step.request.amount,
            )

    @activity.defn
    async def await_settlement(self, placed: PlacedOrder) -> Order:
        """Poll until the order settles; heartbeats tell Temporal this attempt is alive."""
        with temporal_errors():
            while True:
                order = await self.exchange.get_order(placed.order_id)
                if order.settled:
                    return order
                activity.heartbeat(order.id)
                await asyncio.sleep(self.limits.settle_poll_seconds)

    @activity.defn
    async def write_trade(self, placed: PlacedOrder) -> bool:
        """Record the settled order as the exchange has it (read again here rather than carried
        through the workflow's history a second time); False when the trade is recorded."""
        with temporal_errors():
            if await self.trades.get(placed.trade_id) is not None:
                return False
            order = await self.exchange.get_order(placed.order_id)
            if not order.settled:
                raise RetryableError(f"order {placed.order_id} has not settled yet")
            return await self.trades.insert(placed.trade_id, order)

    @activity.defn
    async def send_receipt(self, placed: PlacedOrder) -> bool:
        """Receipt the trade as recorded by `write_trade` (the step before this one)."""
        with temporal_errors():
            order = await self.trades.get(placed.trade_id)
            if order is None:
                raise InvalidInput(f"no trade is recorded under {placed.trade_id}")
            result = await self.receipts.send_once(placed.trade_id, order)
        return result.sent_now

    @activity.defn
    async def get_wallet(self, request: WalletRequest) -> Wallet:
        with temporal_errors():
            return await self.exchange.wallet()
