"""Starting a trade as a person does (`kripto trade`, the dashboard, the Telegram bot): one
place that names it for the Web UI and chooses the key's reuse policy."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import TypedSearchAttributes, WorkflowIDReusePolicy

from kripto.models import Order, TradeRequest
from kripto.settings import Settings
from kripto.temporal.search_attributes import amounts_memo, trade_attributes, trade_summary
from workflows.trade import EXECUTION_MEMO, MAKER_ONLY_MEMO, TradeWorkflow


async def start_trade_workflow(
    client: Client,
    settings: Settings,
    request: TradeRequest,
    trade_id: str,
    *,
    by: str | None = None,
    execution: str | None = None,
    maker_only: bool = False,
) -> WorkflowHandle[TradeWorkflow, Order]:
    """Start the trade under its key; WorkflowAlreadyStartedError when the key has a trade
    running or done. A key whose run failed (say, for funds) may run again, unlike the
    original, which remembered failures for ever; the exchange lookup by client order ID makes
    that second run safe. `by`: who asked, kept in the memo for the Web UI and the notes.
    `execution` (`taker` for `--taker`) and `maker_only` (`--maker-only`) go in the memo too:
    the trade reads them once, as it prepares (docs/execution.md)."""
    visible = settings.encryption.amounts_in_metadata
    memo: dict[str, Any] = dict(amounts_memo(visible) or {})
    if by is not None:
        memo["by"] = by
    if execution is not None:
        memo[EXECUTION_MEMO] = execution
    if maker_only:
        memo[MAKER_ONLY_MEMO] = True
    return await client.start_workflow(
        TradeWorkflow.run,
        request,
        id=trade_id,
        task_queue=settings.temporal.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        static_summary=trade_summary(request, amounts_visible=visible),
        search_attributes=TypedSearchAttributes(trade_attributes(request, amounts_visible=visible)),
        memo=memo or None,
    )
