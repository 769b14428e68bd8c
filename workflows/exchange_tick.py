"""One tick a minute for all of an exchange's markets: read every price in as few requests as
the exchange allows, then fan out to two children, one storing every rate in one insert and
one deciding for every market in one activity (which starts a TradeWorkflow per buy or sell).

It replaced a tick per product (RateTickWorkflow, retired; docs/architecture.md): the
server's work is per workflow and per event, not per market, so one tick
for 2,000 markets costs about what one did for a single market."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, VersioningBehavior
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from kripto.ids import decide_markets_id, stamp, store_rates_id
    from kripto.models import (
        DecideMarketsInput,
        ExchangeTickInput,
        ExchangeTickResult,
        FetchRatesInput,
        LateTick,
        Prices,
        StoreRatesInput,
    )
    from kripto.temporal.failures import root_cause
    from kripto.temporal.search_attributes import (
        AMOUNTS_MEMO,
        MARKETS,
        NO_ACTION,
        amounts_memo,
        markets_values,
    )
    from workflows.decide_markets import DecideMarketsWorkflow
    from workflows.inputs import decoded
    from workflows.policies import (
        FETCH_RATE_DEADLINE,
        FETCH_RATE_RETRY,
        FETCH_RATE_TIMEOUT,
        LATE_TICK_AFTER,
        REPORT_TIMEOUT,
    )
    from workflows.store_rates import StoreRatesWorkflow

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def tick_time() -> datetime:
    """The time this tick stands for: the schedule's slot, or the start for a manual run.
    Whole seconds, so a tick started at 12:00:00.004 still stores the 12:00:00 rate."""
    scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
    if scheduled is None:
        return workflow.now().replace(microsecond=0)
    return scheduled.replace(microsecond=0)


def started_late() -> timedelta | None:
    """How late a scheduled tick started after its slot, if later than LATE_TICK_AFTER."""
    scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
    if scheduled is None:
        return None
    late = workflow.info().start_time - scheduled
    return late if late > LATE_TICK_AFTER else None


#: Rows of the tick's details (the Web UI's "Current details"); the rest are counted.
DETAIL_ROWS = 500


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class ExchangeTickWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> ExchangeTickResult:
        input = decoded(ExchangeTickInput, args)
        exchange = input.exchange
        at = tick_time()
        late = started_late()
        if late is not None:
            # As for a product's tick: counted and failed loudly, never read for a minute gone.
            await workflow.execute_activity(
                interfaces.report_late_tick,
                LateTick(product_id=exchange, at=at, late_seconds=late.total_seconds()),
                start_to_close_timeout=REPORT_TIMEOUT,
            )
            raise ApplicationError(
                f"tick {exchange} {stamp(at)} started {late.total_seconds():.0f} s after its"
                " slot; skipped: prices read now would be stored under the wrong minute",
                type="TickTooLate",
                non_retryable=True,
            )
        count = len(input.products)
        workflow.set_current_details(f"Reading {count} {exchange} prices for {stamp(at)}")
        prices = await workflow.execute_activity(
            interfaces.fetch_rates,
            FetchRatesInput(exchange=exchange, products=input.products, at=at),
            start_to_close_timeout=FETCH_RATE_TIMEOUT,
            schedule_to_close_timeout=FETCH_RATE_DEADLINE,
            retry_policy=FETCH_RATE_RETRY,
        )
        amounts = bool(workflow.memo_value(AMOUNTS_MEMO, True))  # see search_attributes.py
        store = workflow.execute_child_workflow(
            StoreRatesWorkflow.run,
            StoreRatesInput(prices=prices),
            id=store_rates_id(exchange, at),
            static_summary=f"store {count} {exchange} rates at {stamp(at)}",
            # The write retries until Postgres takes it, even if this tick is ended first.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
        decide = workflow.execute_child_workflow(
            DecideMarketsWorkflow.run,
            DecideMarketsInput(prices=prices),
            id=decide_markets_id(exchange, at),
            static_summary=f"decide {count} {exchange} markets at {stamp(at)}",
            memo=amounts_memo(amounts),
        )
        # A decision that fails (say, Postgres down past its deadline) must not fail the tick:
        # the store child goes on retrying until the rates land.
        written, decided = await asyncio.gather(store, decide, return_exceptions=True)
        if isinstance(written, BaseException):
            raise written
        if isinstance(decided, ChildWorkflowError):
            reason = f"no decisions: {root_cause(decided)}"
            workflow.logger.warning("tick %s %s: %s", exchange, stamp(at), reason)
            actions = dict.fromkeys(prices.prices, NO_ACTION)
            _show(exchange, prices, actions, amounts, reason)
            return ExchangeTickResult(
                at=at, markets=count, stored=written.stored, actions=actions, reason=reason
            )
        if isinstance(decided, BaseException):
            raise decided
        _show(exchange, prices, decided.actions, amounts, None)
        return ExchangeTickResult(
            at=at, markets=count, stored=written.stored, actions=decided.actions
        )


def _show(
    exchange: str, prices: Prices, actions: dict[str, str], amounts: bool, reason: str | None
) -> None:
    """The tick's page in the Web UI: each product's rate and action (trades first), and
    KriptoMarkets for the list (`KriptoMarkets = "BTC-GBP:buy"`)."""
    order = sorted(actions, key=lambda p: (actions[p] in ("hold", NO_ACTION), p))
    counts: dict[str, int] = {}
    for action in actions.values():
        counts[action] = counts.get(action, 0) + 1
    lines = [
        f"**{exchange} {stamp(prices.at)}** ({prices.source}): "
        + ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        + (f"; {reason}" if reason else ""),
        "",
        "| product | rate | action |",
        "|---|---|---|",
    ]
    for product in order[:DETAIL_ROWS]:
        rate = f"{prices.prices[product]:,}" if amounts else "·"
        lines.append(f"| {product} | {rate} | {actions[product]} |")
    if len(order) > DETAIL_ROWS:
        lines.append(f"\n… and {len(order) - DETAIL_ROWS} more")
    workflow.set_current_details("\n".join(lines))
    workflow.upsert_search_attributes([MARKETS.value_set(markets_values(actions))])
