"""One tick of the schedule: read the rate, then fan out to the children that use it."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    VersioningBehavior,
)
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from kripto.ids import decide_id, stamp, store_rate_id
    from kripto.models import (
        DecideInput,
        FetchRateInput,
        LateTick,
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
    from workflows.inputs import decoded
    from workflows.policies import (
        FETCH_RATE_DEADLINE,
        FETCH_RATE_RETRY,
        FETCH_RATE_TIMEOUT,
        LATE_TICK_AFTER,
        REPORT_TIMEOUT,
    )
    from workflows.store_rate import StoreRateWorkflow

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def tick_time(offset_seconds: int = 0) -> datetime:
    """The time this tick stands for: the schedule's slot less the product's offset into the
    minute (so a tick fired at 12:00:17 stands for 12:00:00), or the start for a manual run.
    Whole seconds, so a tick started at 12:00:00.004 still stores the 12:00:00 rate."""
    scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
    if scheduled is None:
        return workflow.now().replace(microsecond=0)
    return scheduled.replace(microsecond=0) - timedelta(seconds=offset_seconds)


def started_late() -> timedelta | None:
    """How late a scheduled tick started after its slot, if later than LATE_TICK_AFTER."""
    scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
    if scheduled is None:
        return None
    late = workflow.info().start_time - scheduled
    return late if late > LATE_TICK_AFTER else None


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class RateTickWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> RateTickResult:
        input = decoded(RateTickInput, args)
        at = tick_time(input.offset_seconds)
        product = input.product_id
        late = started_late()
        if late is not None and workflow.patched("report-late-ticks"):
            # The server started it (its catch-up window is longer than a minute) so that it
            # is counted and fails loudly here, rather than being skipped unseen.
            await workflow.execute_activity(
                interfaces.report_late_tick,
                LateTick(product_id=product, at=at, late_seconds=late.total_seconds()),
                start_to_close_timeout=REPORT_TIMEOUT,
            )
            raise ApplicationError(
                f"tick {product} {stamp(at)} started {late.total_seconds():.0f} s after its"
                " slot; skipped: a spot price read now would be stored under the wrong minute",
                type="TickTooLate",
                non_retryable=True,
            )
        workflow.set_current_details(f"Reading the {product} rate for {stamp(at)}")
        rate = await workflow.execute_activity(
            interfaces.fetch_rate,
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
