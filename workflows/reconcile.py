"""reconcile: compare the exchange's orders, fills and balances with the books; record and
receipt the orders the books miss, flag every other difference (kripto/reconcile.py says how).

Runs on its schedule (`kripto-reconcile`, every KRIPTO_RECONCILE_EVERY), once when a worker
starts, and from `kripto reconcile`."""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from kripto.models import (
        PlacedOrder,
        ReconcileDifference,
        ReconcileReport,
        ReconcileRequest,
        ReconcileStep,
    )
    from kripto.notify.events import Notify
    from kripto.notify.messages import alert
    from kripto.temporal.failures import root_cause
    from workflows.inputs import decoded
    from workflows.notify import start_notification

#: Runs recorded before differences were notified replay without the notification children.
NOTIFY_PATCH = "notify-reconcile-differences"
#: Runs recorded before alerts were keyed by a difference's first appearance replay with the
#: keys they had (a balance's by its figures).
FIRST_SEEN_PATCH = "reconcile-alert-first-seen"

#: A reconciliation that keeps failing fails, and shows; the next scheduled one tries again.
RECONCILE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
#: A receipt the reconciler owes is sent however long the mail provider takes to come back.
RECEIPT_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=10)


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class ReconcileWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> ReconcileReport:
        request = decoded(ReconcileRequest, args)
        report = await workflow.execute_activity(
            interfaces.reconcile,
            ReconcileStep(since=request.since, rebase=request.rebase),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RECONCILE_RETRY,
            summary="compare the exchange with the books",
        )
        sent = 0
        for trade_id in report.to_receipt:
            try:
                if await workflow.execute_activity(
                    interfaces.send_found_receipt,
                    PlacedOrder(trade_id=trade_id),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RECEIPT_RETRY,
                    summary=f"receipt {trade_id}, found by the reconciler",
                ):
                    sent += 1
            except ActivityError as err:
                # The comparison stands; the next run owes the receipt again (and says so).
                workflow.logger.warning("receipt for %s not sent: %s", trade_id, root_cause(err))
        if report.differences and workflow.patched(NOTIFY_PATCH):
            by_first_seen = workflow.patched(FIRST_SEEN_PATCH)
            for difference in report.differences:
                await start_notification(
                    difference_alert(report.exchange, difference, by_first_seen)
                )
        verdict = (
            "books match" if report.books_match else f"{len(report.differences)} difference(s)"
        )
        workflow.set_current_details(
            f"**{verdict}**: {report.orders_on_exchange} order(s) on {report.exchange},"
            f" {report.trades_on_books} trade(s) on the books, {len(report.recorded)} recorded,"
            f" {sent} receipt(s) sent"
        )
        return report.model_copy(update={"receipts_sent": sent})


def difference_alert(
    exchange: str, difference: ReconcileDifference, by_first_seen: bool = True
) -> Notify:
    """One notification per difference: its key is what differs and when it first appeared,
    so a difference that stays open (a balance off by a deposit, while trades go on and its
    figures change) pages once, and one that is resolved and comes back is news again.
    (Before `FIRST_SEEN_PATCH`: a balance's key carried its figures, so every later trade
    paged again.)"""
    if by_first_seen and difference.first_seen is not None:
        figures = f"-{difference.first_seen:%Y%m%dT%H%M%S%fZ}"
    elif difference.kind == "balance":
        figures = f"-{difference.books}-{difference.exchange}"
    else:
        figures = ""
    return alert(
        f"reconcile-{difference.kind.replace(' ', '-')}-{difference.subject}{figures}",
        f"Books differ from {exchange}: {difference.kind} {difference.subject}",
        difference.detail,
    )
