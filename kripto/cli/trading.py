"""`kripto trade`, `kripto wallet` and `kripto trades`."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer
from rich.table import Table
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from kripto.cli.common import (
    DataDir,
    console,
    errors,
    fail,
    open_database,
    print_json,
    run,
    settings_for,
)
from kripto.cli.tables import orders_table, wallet_table
from kripto.db.trades import TradeRepository
from kripto.errors import InvalidInput
from kripto.inputs import parse_trade_request
from kripto.models import Order, Side, TradeRequest, Wallet, WalletRequest
from kripto.settings import Settings
from kripto.temporal.client import connect_client
from kripto.temporal.failures import root_cause
from kripto.temporal.kill_switch import KillSwitch
from kripto.temporal.search_attributes import amounts_memo, trade_attributes, trade_summary
from workflows.trade import TradeWorkflow
from workflows.wallet import WalletWorkflow


def register(app: typer.Typer) -> None:
    # A negative amount ("-10.00") is an argument to refuse with its rule, not an option.
    app.command("trade", context_settings={"ignore_unknown_options": True})(trade)
    app.command("wallet")(wallet)
    app.command("trades")(trades)


def trade(
    side: Annotated[Side, typer.Argument(help="buy or sell")],
    amount: Annotated[
        str,
        typer.Argument(help="In the product's quote currency (GBP for BTC-GBP), e.g. 10.00."),
    ],
    key: Annotated[str | None, typer.Option(help="Idempotency key (default: a new UUID).")] = None,
    product: Annotated[str, typer.Option(help="Product, e.g. BTC-GBP.")] = "BTC-GBP",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Place a market order exactly once under KEY, wait for it to settle, and print it."""
    trade_id = key or str(uuid.uuid4())
    try:
        request = parse_trade_request(
            [
                {
                    "idempotencyKey": trade_id,
                    "tradeType": side.value,
                    "amount": amount,
                    "productId": product,
                }
            ]
        )
    except InvalidInput as exc:
        raise fail(str(exc)) from None
    order, existed = run(start_trade(settings_for(data_dir), request))
    if as_json:
        print_json(order.to_json_dict())
        return
    if existed:
        console.print(f"[yellow]key {trade_id} has already traded: this is its order[/yellow]")
    show_order(order, title=f"Trade {trade_id}")


async def start_trade(settings: Settings, request: TradeRequest) -> tuple[Order, bool]:
    """Start once per key; a key that traded before gives its earlier order back."""
    client = await connect_client(settings)
    trade_id = request.idempotency_key or str(uuid.uuid4())
    if await KillSwitch(client, task_queue=settings.task_queue).engaged(request.product_id):
        # The kill switch stops automatic trading; a person's own trade is deliberate, so it
        # goes through, but not without saying so (to stderr: --json output stays JSON).
        errors.print(
            f"[yellow]note: the kill switch is on for {request.product_id}; this manual trade"
            " goes through[/yellow]",
            highlight=False,
            soft_wrap=True,
        )
    existed = False
    try:
        handle = await client.start_workflow(
            TradeWorkflow.run,
            request,
            id=trade_id,
            task_queue=settings.task_queue,
            # Reject a key that traded (its order is printed); a key whose run failed (say, for
            # funds) may run again, unlike the original, which remembered failures forever. The
            # exchange lookup by client order ID makes that second run safe.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            static_summary=trade_summary(request, amounts_visible=settings.amounts_in_metadata),
            search_attributes=TypedSearchAttributes(
                trade_attributes(request, amounts_visible=settings.amounts_in_metadata)
            ),
            memo=amounts_memo(settings.amounts_in_metadata),
        )
    except WorkflowAlreadyStartedError:
        existed = True
        handle = client.get_workflow_handle_for(TradeWorkflow.run, trade_id)
        first = await first_request(client, trade_id)
        if first is not None and not first.same_trade(request):
            raise fail(
                f"key {trade_id} was used for {first.summary}; this request is"
                f" {request.summary}. Use a new key for a new trade."
            ) from None
    try:
        return await handle.result(), existed
    except WorkflowFailureError as exc:
        raise fail(f"trade {trade_id} failed: {root_cause(exc)}") from None


async def first_request(client: Client, trade_id: str) -> TradeRequest | None:
    """What the key's existing trade was asked for, read from its history's start event."""
    async for event in client.get_workflow_handle(trade_id).fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        try:
            return parse_trade_request(await client.data_converter.decode(payloads))
        except InvalidInput:  # that run failed on its input; it traded nothing
            return None
    return None


def wallet(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Show every traded currency's balance (WalletWorkflow)."""
    result = run(get_wallet(settings_for(data_dir)))
    if as_json:
        print_json(result.to_json_dict())
        return
    console.print(wallet_table(result))


async def get_wallet(settings: Settings) -> Wallet:
    client: Client = await connect_client(settings)
    return await client.execute_workflow(
        WalletWorkflow.run,
        WalletRequest(),
        id=f"wallet-{uuid.uuid4()}",
        task_queue=settings.task_queue,
    )


def trades(
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1, max=10000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List the recorded trades, newest first."""
    rows = run(recent_trades(settings_for(data_dir), limit))
    if as_json:
        print_json([o.to_json_dict() for o in rows])
        return
    show_orders(rows, title="Trades, newest first")


async def recent_trades(settings: Settings, limit: int) -> list[Order]:
    async with open_database(settings) as db:
        return await TradeRepository(db).recent(limit)


def show_order(order: Order, title: str) -> None:
    """One order, a field a line, so every digit fits on a narrow terminal."""
    table = Table("field", "value", title=title)
    for name, value in order.to_json_dict().items():
        table.add_row(name, value if isinstance(value, str) else json.dumps(value))
    console.print(table)


def show_orders(orders: list[Order], title: str) -> None:
    console.print(orders_table(orders, title))
