"""A trade as a person starts and follows it (`kripto trade`, the dashboard, the Telegram bot):
started once under its key, the key's existing trade looked up, and its outcome read."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from kripto.db.pool import Database
from kripto.db.trade_orders import TradeOrderRepository
from kripto.db.trades import TradeRepository
from kripto.errors import InvalidInput, KriptoError
from kripto.flows.wallet import WalletRequest
from kripto.inputs import parse_trade_request
from kripto.models import Order, TradeRequest, Wallet
from kripto.portfolio import Fill
from kripto.runtime.kill_switch import KillSwitch
from kripto.runtime.trades import start_trade_workflow
from kripto.settings import Settings
from kripto.temporal.failures import root_cause
from kripto.temporal.search_attributes import TRADE_STEP
from kripto.trade_orders import TradeFill, TradeOrder
from workflows.trade import TradeWorkflow
from workflows.wallet import WalletWorkflow


class KeyUsedForAnotherTrade(KriptoError):
    """The key has a trade already, asked for something else (side, amount or product)."""

    def __init__(self, trade_id: str, first: TradeRequest, request: TradeRequest) -> None:
        super().__init__(f"key {trade_id} was used for {first.summary}; this is {request.summary}")
        self.trade_id, self.first, self.request = trade_id, first, request


class TradeFailed(KriptoError):
    """The trade ended failed (the exchange refused it, say); the message is its root cause."""


class TradeUnreachable(KriptoError):
    """Temporal stopped answering while waiting for a trade that had started."""


@dataclass(frozen=True)
class StartedTrade:
    trade_id: str
    #: The key had a trade already (running or done): this is it, not a second one.
    existed: bool
    handle: WorkflowHandle[TradeWorkflow, Order]


async def start_trade(
    client: Client,
    settings: Settings,
    request: TradeRequest,
    by: str | None = None,
    *,
    key: str | None = None,
    execution: str | None = None,
    maker_only: bool = False,
) -> StartedTrade:
    """Start the trade once under its key (`key`, else the request's, else a new UUID). A key
    that has a trade gives that trade back (`existed`), unless it was asked for something
    else: KeyUsedForAnotherTrade. `by`: who asked, for the Web UI and the notes. `execution`
    (`taker` for `--taker`) and `maker_only` choose this trade's execution (docs/execution.md)."""
    trade_id = key or request.idempotency_key or str(uuid.uuid4())
    try:
        handle = await start_trade_workflow(
            client,
            settings,
            request,
            trade_id,
            by=by,
            execution=execution,
            maker_only=maker_only,
        )
        return StartedTrade(trade_id, existed=False, handle=handle)
    except WorkflowAlreadyStartedError:
        first = await first_request(client, trade_id)
        if first is not None and not first.same_trade(request):
            raise KeyUsedForAnotherTrade(trade_id, first, request) from None
        handle = client.get_workflow_handle_for(TradeWorkflow.run, trade_id)
        return StartedTrade(trade_id, existed=True, handle=handle)


async def order_of(started: StartedTrade, within: float | None = None) -> Order:
    """The trade's order once it has settled. TradeFailed when it failed; TradeUnreachable
    when Temporal stops answering; TimeoutError after `within` seconds (it runs on)."""
    try:
        if within is None:
            return await started.handle.result()
        return await asyncio.wait_for(started.handle.result(), within)
    except WorkflowFailureError as exc:
        raise TradeFailed(root_cause(exc)) from None
    except RPCError as exc:
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise TradeUnreachable(str(exc)) from None
        raise


async def kill_switch_engaged(client: Client, settings: Settings, product_id: str) -> bool:
    return await KillSwitch(client, task_queue=settings.temporal.task_queue).engaged(product_id)


@dataclass(frozen=True)
class TradeStatus:
    key: str
    #: running, completed, failed, canceled, terminated, timed out or continued as new.
    status: str
    request: TradeRequest | None
    step: str | None
    order: Order | None
    error: str | None

    @property
    def summary(self) -> str:
        return self.request.summary if self.request is not None else "(its request was invalid)"

    @property
    def status_line(self) -> str:
        if self.status == "running":
            return f"running ({self.step})" if self.step else "running"
        if self.error:
            return f"{self.status}: {self.error}"
        return self.status

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "status": self.status,
            "request": self.request.to_json_dict() if self.request is not None else None,
            "step": self.step,
            "order": self.order.to_json_dict() if self.order is not None else None,
            "error": self.error,
        }


class NoSuchTrade(KriptoError):
    """No trade under the key in the namespace."""


async def trade_status(client: Client, key: str) -> TradeStatus:
    """The trade as Temporal has it. Its step comes from the KriptoTradeStep search attribute,
    not a query, so a trade whose worker is away still shows where it stopped."""
    handle = client.get_workflow_handle_for(TradeWorkflow.run, key)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise NoSuchTrade(
            f"KEY: no trade {key!r} in namespace {client.namespace!r} (a finished trade is kept"
            " for the namespace's retention; `kripto trades` lists every recorded one)"
        ) from None
    state = described.status or WorkflowExecutionStatus.RUNNING
    name = state.name.lower().replace("_", " ")
    order = error = None
    if state == WorkflowExecutionStatus.COMPLETED:
        order = await handle.result()
    elif state == WorkflowExecutionStatus.FAILED:
        try:
            await handle.result()
        except WorkflowFailureError as exc:
            error = str(root_cause(exc))
    return TradeStatus(
        key=key,
        status=name,
        request=await first_request(client, key),
        step=described.typed_search_attributes.get(TRADE_STEP),
        order=order,
        error=error,
    )


async def first_request(client: Client, trade_id: str) -> TradeRequest | None:
    """What the key's existing trade was asked for, read from its history's start event."""
    async for event in client.get_workflow_handle(trade_id).fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        try:
            return parse_trade_request(await client.data_converter.decode(payloads))
        except InvalidInput:  # that run failed on its input; it traded nothing
            return None
    return None


async def wallet(client: Client, settings: Settings) -> Wallet:
    """Every traded currency's balance, as the worker's exchange has it (WalletWorkflow)."""
    return await client.execute_workflow(
        WalletWorkflow.run,
        WalletRequest(),
        id=f"wallet-{uuid.uuid4()}",
        task_queue=settings.temporal.task_queue,
    )


async def placed_orders(
    db: Database, trade_id: str
) -> tuple[str, str | None, list[TradeOrder], list[TradeFill]]:
    """A trade's execution, its outcome note, its orders and their fills, from the books."""
    execution, outcome = await TradeRepository(db).execution_of(trade_id)
    repository = TradeOrderRepository(db)
    return execution, outcome, await repository.of_trade(trade_id), await repository.fills(trade_id)


async def recent_trades_with_fills(
    db: Database, limit: int
) -> tuple[list[tuple[Order, Decimal | None]], dict[str, list[TradeFill]]]:
    """The latest trades with the amount each was asked for, and the fills of each (maker or
    taker), by key."""
    rows = await TradeRepository(db).recent_asked(limit)
    keys = [o.client_order_id for o, _ in rows]
    return rows, await TradeOrderRepository(db).fills_of_trades(keys)


async def recent_trades(db: Database, limit: int) -> list[Order]:
    """The recorded trades, newest first."""
    return await TradeRepository(db).recent(limit)


async def fills(db: Database, product_id: str) -> list[Fill]:
    """The product's fills, oldest first (for its position and profit)."""
    return await TradeRepository(db).fills(product_id)


async def trades_since(db: Database, since: datetime, *, quote: str) -> list[Order]:
    """The trades in the quote currency since `since` (the day's, for the guards)."""
    return await TradeRepository(db).since(since, quote=quote)


class NotAbandoned(KriptoError):
    """The key names no running trade; the message says why."""


async def abandon(client: Client, db: Database, key: str, reason: str, by: str) -> Order | None:
    """Abandon the running trade `key` (`kripto trade abandon`): note who and why, terminate
    its workflow, and leave its row to the reconciler. Its row on the books, if any."""
    from kripto.db.reconcile import ReconcileRepository

    handle = client.get_workflow_handle(key)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise NotAbandoned(f"KEY: no trade {key!r} in namespace {client.namespace!r}") from None
    if described.workflow_type != "TradeWorkflow":
        raise NotAbandoned(f"KEY: {key!r} is a {described.workflow_type}, not a trade")
    state = described.status or WorkflowExecutionStatus.RUNNING
    if state != WorkflowExecutionStatus.RUNNING:
        name = state.name.lower().replace("_", " ")
        raise NotAbandoned(f"KEY: trade {key} is {name}, not running: there is nothing to abandon")
    await ReconcileRepository(db).record_abandon(key, reason, by)
    await handle.terminate(reason=f"abandoned by {by}: {reason}")
    return await TradeRepository(db).get(key)
