"""A trade's flow (TradeWorkflow): its steps' inputs and results. The request itself,
the seed's wire shape, is kripto.models.TradeRequest."""

from __future__ import annotations

from kripto.models import (
    Order,
    TradeRequest,
    Wire,
)


class PlaceOrderResult(Order):
    """`place_order`'s result: the order, and whether an earlier run of the key had traded it
    already (so this run placed nothing). A subclass with a default, so a result recorded by a
    build that returned a plain Order still decodes (as `already_traded=False`)."""

    already_traded: bool = False

    def order(self) -> Order:
        """The order alone, in the seed's shape: what the trade returns."""
        return Order.model_validate(self.model_dump(exclude={"already_traded"}))


class TradeStep(Wire):
    """An activity's input: the trade's key (its workflow ID) and what was asked."""

    trade_id: str
    request: TradeRequest


class PlacedOrder(Wire):
    """An order on the exchange, by the trade's key and the exchange's ID: later steps read the
    order itself from the exchange rather than carry it through history again.

    `order_id` may be missing: the first build passed only the key (`{"tradeId"}`) to the steps
    after placing, and a trade in flight from that build must still finish. The order is then
    found by its key."""

    trade_id: str
    order_id: str | None = None
