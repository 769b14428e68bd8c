"""trade-decider of an exchange tick: one activity decides for every market, then each buy or
sell starts its own TradeWorkflow, exactly as a product's own decision did (the trade's ID
derives from the decision's, `trade-<PRODUCT>-<minute>`, so no replay or retry trades twice)."""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    TypedSearchAttributes,
    VersioningBehavior,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from kripto.ids import trade_id_for_decision
    from kripto.models import (
        DecideMarketsInput,
        DecideMarketsResult,
        MarketTrade,
        Side,
        TradeRequest,
    )
    from kripto.money import PENNY, round_down
    from kripto.temporal.search_attributes import (
        AMOUNTS_MEMO,
        amounts_memo,
        trade_attributes,
        trade_summary,
    )
    from workflows.inputs import decoded
    from workflows.trade import TradeWorkflow


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class DecideMarketsWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> DecideMarketsResult:
        input = decoded(DecideMarketsInput, args)
        decided = await workflow.execute_activity(
            interfaces.decide_markets,
            input,
            start_to_close_timeout=timedelta(seconds=40),
            # A decision is only worth making while its minute is fresh.
            schedule_to_close_timeout=timedelta(seconds=50),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=5)),
        )
        amounts = bool(workflow.memo_value(AMOUNTS_MEMO, True))  # see search_attributes.py
        started = await asyncio.gather(*(self._start(t, amounts) for t in decided.trades))
        counts: dict[str, int] = {}
        for action in decided.actions.values():
            counts[action] = counts.get(action, 0) + 1
        summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        workflow.set_current_details(
            f"{summary}" + "".join(f"\n- trade {tid}: {what}" for tid, what in started)
        )
        return decided

    async def _start(self, trade: MarketTrade, amounts: bool) -> tuple[str, str]:
        trade_id = trade_id_for_decision(trade.decision_id)
        request = TradeRequest(  # its key is its workflow ID
            trade_type=Side(trade.action),
            amount=round_down(trade.amount, PENNY),
            product_id=trade.product_id,
            # A whole-position sell goes in coins (None from builds before it, and for buys).
            base_size=trade.base_size,
        )
        try:
            # Reject-duplicate: a retried or replayed tick can never start a second trade.
            # Abandon: the trade finishes even if this workflow is closed.
            await workflow.start_child_workflow(
                TradeWorkflow.run,
                request,
                id=trade_id,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                static_summary=trade_summary(request, amounts_visible=amounts),
                search_attributes=TypedSearchAttributes(
                    trade_attributes(request, amounts_visible=amounts)
                ),
                memo=amounts_memo(amounts),
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("trade %s was already started", trade_id)
        return trade_id, trade_summary(request, amounts_visible=amounts)
