"""One tick of the schedule: read the rate, then fan out to the children that use it."""

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    VersioningBehavior,
)
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.rates import RateActivities
    from kripto.models import (
        DecideInput,
        FetchRateInput,
        RateTickInput,
        RateTickResult,
        StoreRateInput,
    )
    from kripto.temporal.failures import root_cause
    from kripto.temporal.search_attributes import (
        ACTION,
        AMOUNTS_MEMO,
        NO_ACTION,
        PRODUCT,
        amounts_memo,
    )
    from workflows.decide_trade import ACTION_PATCH, DecideTradeWorkflow
    from workflows.ids import decide_id, stamp, store_rate_id
    from workflows.inputs import decoded
    from workflows.policies import FETCH_RATE_DEADLINE, FETCH_RATE_RETRY, FETCH_RATE_TIMEOUT
    from workflows.store_rate import StoreRateWorkflow

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def tick_time() -> datetime:
    """The time this tick stands for: the schedule's slot, or the start for a manual run.
    Whole seconds, so a tick started at 12:00:00.004 still stores the 12:00:00 rate."""
    at = workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
    return at.replace(microsecond=0)


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class RateTickWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> RateTickResult:
        input = decoded(RateTickInput, args)
        at = tick_time()
        product = input.product_id
        workflow.set_current_details(f"Reading the {product} rate for {stamp(at)}")
        rate = await workflow.execute_activity_method(
            RateActivities.fetch_rate,
            FetchRateInput(product_id=product, at=at),
            start_to_close_timeout=FETCH_RATE_TIMEOUT,
            schedule_to_close_timeout=FETCH_RATE_DEADLINE,
            retry_policy=FETCH_RATE_RETRY,
        )
        # With encryption on, the rate stays in the (encrypted) payloads only.
        amounts = bool(workflow.memo_value(AMOUNTS_MEMO, True))  # see search_attributes.py
        found = f"{product} {rate.rate:,} ({rate.source})" if amounts else f"{product} rate"
        workflow.set_current_details(f"{found} at {stamp(at)}")
        of_product = TypedSearchAttributes([SearchAttributePair(PRODUCT, product)])
        # The fan-out point (the original's RateUpdate topic): the children run in parallel.
        store = workflow.execute_child_workflow(
            StoreRateWorkflow.run,
            StoreRateInput(rate=rate),
            id=store_rate_id(product, at),
            static_summary=(
                f"store {product} {rate.rate:,} at {stamp(at)}" if amounts else f"store {found}"
            ),
            search_attributes=of_product,
            # The write retries until Postgres takes it, even if this tick is ended first.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
        decide = workflow.execute_child_workflow(
            DecideTradeWorkflow.run,
            DecideInput(rate=rate),
            id=decide_id(product, at),
            static_summary=(
                f"decide {product} at {rate.rate:,} ({stamp(at)})"
                if amounts
                else f"decide {product} ({stamp(at)})"
            ),
            search_attributes=of_product,
            memo=amounts_memo(amounts),
        )
        # A decision that fails (say, Postgres down past its deadline) must not fail the tick:
        # the store child goes on retrying until the rate lands.
        written, decision = await asyncio.gather(store, decide, return_exceptions=True)
        if isinstance(written, BaseException):
            raise written
        if isinstance(decision, ChildWorkflowError):
            reason = f"no decision: {root_cause(decision)}"
            workflow.logger.warning("tick %s: %s", stamp(at), reason)
            _found(found, NO_ACTION, reason)
            return RateTickResult(rate=rate, stored=written.stored, action=None, reason=reason)
        if isinstance(decision, BaseException):
            raise decision
        workflow.logger.info(
            "tick %s %s %s (%s): %s", product, stamp(at), rate.rate, rate.source, decision.reason
        )
        _found(found, decision.action, decision.reason)
        return RateTickResult(
            rate=rate, stored=written.stored, action=decision.action, reason=decision.reason
        )


def _found(found: str, action: str, reason: str) -> None:
    """What the tick found, on its page (`BTC-GBP 58,185.81 (simulated) → hold: RSI 52 ...`)
    and in the list (`KriptoAction = "buy"`)."""
    workflow.set_current_details(f"{found} → {reason}")  # the reason begins with the action
    if workflow.patched(ACTION_PATCH):
        workflow.upsert_search_attributes([ACTION.value_set(action)])
