"""trade-decider: decide from the past week whether to buy, sell or hold, and start the trade.

It returns only the action and its reason: the whole decision (parameters, indicators) is in
Postgres and in the `decide` activity's result, and need not be copied into the tick's history."""

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
    from kripto.models import DecideInput, DecisionResult, Side, TradeRequest
    from kripto.money import PENNY, round_down
    from kripto.temporal.search_attributes import (
        ACTION,
        AMOUNTS_MEMO,
        amounts_memo,
        trade_attributes,
        trade_summary,
    )
    from workflows.inputs import decoded
    from workflows.trade import TradeWorkflow

#: From this build on, a tick and its decision carry KriptoAction: an upsert, so a new command
#: that histories recorded before it lack. Shared with the tick (workflows/rate_tick.py).
ACTION_PATCH = "kripto-action-search-attribute"


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class DecideTradeWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> DecisionResult:
        input = decoded(DecideInput, args)
        decision = await workflow.execute_activity(
            interfaces.decide,
            input,
            start_to_close_timeout=timedelta(seconds=30),
            # A decision is only worth making while its minute is fresh.
            schedule_to_close_timeout=timedelta(seconds=50),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=5)),
        )
        amounts = bool(workflow.memo_value(AMOUNTS_MEMO, True))  # see search_attributes.py
        # The reason (it begins with the action) quotes amounts: shown only where amounts may be.
        workflow.set_current_details(decision.reason if amounts else decision.action)
        if workflow.patched(ACTION_PATCH):
            workflow.upsert_search_attributes([ACTION.value_set(decision.action)])
        result = DecisionResult(action=decision.action, reason=decision.reason)
        if decision.action == "hold":
            return result

        trade_id = trade_id_for_decision(decision.decision_id)
        request = TradeRequest(  # its key is its workflow ID
            trade_type=Side(decision.action),
            amount=round_down(decision.amount, PENNY),
            product_id=decision.product_id,
        )
        try:
            # Reject-duplicate: a retried or replayed tick can never start a second trade.
            # Abandon: the trade finishes even if this decision's workflow is closed.
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
        workflow.set_current_details(
            f"{decision.reason} → trade {trade_id}: {trade_summary(request)}"
        )
        return result
