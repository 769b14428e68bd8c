"""`kripto trade buy|sell|status|abandon`, `kripto wallet` and `kripto trades`.

`kripto trade` says the trade's key before it starts anything, so a person who stops watching
(Ctrl-C, a dropped connection) always knows which trade to look for: the trade itself runs in
the worker and may well complete. `kripto trade status KEY` shows it, and the same `kripto trade`
with `--key KEY` attaches to it instead of trading again."""

from __future__ import annotations

import getpass
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated

import typer
from temporalio.runtime import Runtime, TelemetryConfig

from kripto.cli import interrupt
from kripto.cli.common import (
    DataDir,
    connect,
    console,
    errors,
    fail,
    open_database,
    print_json,
    run,
    settings_for,
    unconfigured,
)
from kripto.cli.tables import order_lines, orders_table, trade_summary_lines, wallet_table
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.errors import InvalidInput
from kripto.inputs import parse_trade_request
from kripto.models import Order, Side, TradeRequest, Wallet, check_product, currencies
from kripto.money import PENNY, fmt_money, fmt_size, plain, round_down
from kripto.services import trades as service
from kripto.services.trades import (
    KeyUsedForAnotherTrade,
    NoSuchTrade,
    TradeFailed,
    TradeStatus,
    TradeUnreachable,
)
from kripto.settings import Settings
from kripto.trade_orders import (
    TradeFill,
    TradeOrder,
    blended_fee_rate,
    liquidity_label,
    maker_share,
)

trade_app = typer.Typer(
    help="Trade exactly once under a key (buy, sell), or show a trade by its key (status).",
    no_args_is_help=True,
)
#: A negative amount ("-10.00") is an argument to refuse with its rule, not an option.
AMOUNT_ARGS = {"ignore_unknown_options": True}
Amount = Annotated[
    str,
    typer.Argument(help="In the product's quote currency (GBP for BTC-GBP), e.g. 10.00."),
]
SellAmount = Annotated[
    str,
    typer.Argument(
        help="In the product's quote currency (GBP for BTC-GBP), e.g. 10.00; or `all`: every"
        " coin available, sold as a coin amount."
    ),
]
Key = Annotated[str | None, typer.Option(help="Idempotency key (default: a new UUID).")]
Product = Annotated[str, typer.Option(help="Product, e.g. BTC-GBP.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Taker = Annotated[
    bool,
    typer.Option(
        "--taker", help="A market order now, whatever KRIPTO_EXECUTION says (pays the taker fee)."
    ),
]
MakerOnly = Annotated[
    bool,
    typer.Option(
        "--maker-only",
        help="Maker orders only: whatever has not filled when the maker window ends is not"
        " traded (no taker remainder).",
    ),
]
#: The exit code of a command stopped by Ctrl-C, as a shell reports it.
INTERRUPTED = interrupt.INTERRUPTED


def register(app: typer.Typer) -> None:
    app.add_typer(trade_app, name="trade")
    app.command("wallet")(wallet)
    app.command("trades")(trades)


@trade_app.command("buy", context_settings=AMOUNT_ARGS)
def buy(
    amount: Amount,
    key: Key = None,
    product: Product = "BTC-GBP",
    as_json: Json = False,
    data_dir: DataDir = None,
    taker: Taker = False,
    maker_only: MakerOnly = False,
) -> None:
    """Buy AMOUNT once under its key (--key, or a new one); print the order once settled."""
    trade(Side.BUY, amount, key, product, as_json, data_dir, taker=taker, maker_only=maker_only)


@trade_app.command("sell", context_settings=AMOUNT_ARGS)
def sell(
    amount: SellAmount,
    key: Key = None,
    product: Product = "BTC-GBP",
    as_json: Json = False,
    data_dir: DataDir = None,
    taker: Taker = False,
    maker_only: MakerOnly = False,
) -> None:
    """Sell AMOUNT (or `all`) once under its key (--key, or a new one); print the order once
    settled."""
    trade(Side.SELL, amount, key, product, as_json, data_dir, taker=taker, maker_only=maker_only)


def trade(
    side: Side,
    amount: str,
    key: str | None = None,
    product: str = "BTC-GBP",
    as_json: bool = False,
    data_dir: Path | None = None,
    *,
    taker: bool = False,
    maker_only: bool = False,
) -> None:
    """Trade exactly once under KEY (maker-first or a market order, as KRIPTO_EXECUTION and
    --taker say), wait for it to settle, and print it with each order it placed."""
    if taker and maker_only:
        raise fail("--taker and --maker-only: choose one (a market order is never a maker)")
    trade_id = key or str(uuid.uuid4())
    product = product.strip().upper()  # `--product btc-gbp` is BTC-GBP
    payload = {
        "idempotencyKey": trade_id,
        "tradeType": side.value,
        "amount": amount,
        "productId": product,
    }
    if side is Side.SELL and amount.strip().lower() == "all":
        payload |= run(sell_all(settings_for(data_dir), product))
    try:
        request = parse_trade_request([payload])
    except InvalidInput as exc:
        raise fail(str(exc)) from None
    settings = settings_for(data_dir)
    why = unconfigured(request.product_id, settings)
    if why:
        raise fail(f"--product: {why}; a trade needs one")
    # Before anything starts: whatever happens next, the key is on the screen (stderr, so
    # --json output stays JSON).
    errors.print(f"trade {trade_id}: {request.summary}", highlight=False, soft_wrap=True)
    try:
        order, existed = run(
            start_trade(
                settings,
                request,
                execution="taker" if taker else None,
                maker_only=maker_only,
            )
        )
    except KeyboardInterrupt:
        raise detached(request, INTERRUPTED) from None
    except TradeUnreachable:
        raise detached(request, 1) from None
    placed = run(placed_orders(settings, trade_id))
    if as_json:
        shown = order.to_json_dict()
        if placed is not None and placed.execution == "maker_first":
            shown |= placed.to_json()
        print_json(shown)
        return
    if existed:
        console.print(f"[yellow]key {trade_id} has already traded: this is its order[/yellow]")
    for line in trade_summary_lines(trade_id, order, _label(settings), request.amount):
        console.print(line, highlight=False, soft_wrap=True)
    if placed is not None:
        for line in placed.lines(order):
            console.print(line, highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class PlacedOrders:
    """The orders a trade placed and their fills, as the books have them."""

    execution: str
    outcome: str | None
    orders: list[TradeOrder]
    fills: list[TradeFill]

    def lines(self, order: Order) -> list[str]:
        """`  orders      1 maker (post-only at £7,899.00): filled 0.00126 BTC`, one per order,
        then the blended fee rate and the maker share."""
        return order_lines(self.orders, self.fills, order, self.outcome)

    def to_json(self) -> dict[str, object]:
        rate = blended_fee_rate(
            sum((o.executed_value for o in self.orders), Decimal(0)),
            sum((o.fill_fees for o in self.orders), Decimal(0)),
        )
        share = maker_share(self.fills)
        return {
            "execution": self.execution,
            "outcome": self.outcome,
            "orders": [o.to_json_dict() for o in self.orders],
            "fills": [f.to_json_dict() for f in self.fills],
            "feeRate": None if rate is None else str(rate),
            "makerShare": None if share is None else str(share),
        }


async def placed_orders(settings: Settings, trade_id: str) -> PlacedOrders | None:
    """The trade's orders from the books; None when the books cannot be read from here (the
    trade itself is done either way), with a note on stderr."""
    try:
        async with open_database(settings) as db:
            return PlacedOrders(*await service.placed_orders(db, trade_id))
    except Exception as exc:  # the trade is done; only its details are missing
        errors.print(
            f"note: the trade's orders could not be read from the books: {exc}",
            highlight=False,
            soft_wrap=True,
        )
        return None


def detached(request: TradeRequest, code: int) -> typer.Exit:
    """One line, and no traceback: the trade runs on in the worker without this command."""
    errors.print(detached_line(request), highlight=False, soft_wrap=True)
    return typer.Exit(code)


def detached_line(request: TradeRequest) -> str:
    key = request.idempotency_key
    amount = f"{request.amount}" + (
        f" --product {request.product_id}" if request.product_id != "BTC-GBP" else ""
    )
    return (
        f"stopped waiting: trade {key} may still complete; `kripto trade status {key}` shows"
        f" it (`kripto trade {request.trade_type.value} {amount} --key {key}` waits again)"
    )


async def sell_all(settings: Settings, product: str) -> dict[str, str]:
    """`kripto trade sell all`: every coin available now, as a coin amount (`baseSize`), and
    its worth at the newest stored rate as the amount (what limits and the summary show). The
    exchange sells the coins, capped at what is available when the order arrives."""
    try:
        check_product(product)
    except ValueError as exc:
        raise fail(f"productId: {exc}") from None
    base, quote = currencies(product)
    held = (await get_wallet(settings)).balance(base).available
    if held <= 0:
        raise fail(f"nothing to sell: the wallet has no {base} available")
    async with open_database(settings) as db:
        rate = await RateRepository(db).latest(product)
    if rate is None:
        raise fail(f"no rate stored yet for {product}: cannot say what {fmt_size(held, base)} is")
    worth = round_down(held * rate.rate, PENNY)
    if worth <= 0:
        raise fail(f"{fmt_size(held, base)} is worth less than {fmt_money(PENNY, quote)}")
    return {"amount": plain(worth), "baseSize": plain(held)}


@cache
def quiet_runtime() -> Runtime:
    """The SDK's runtime without its own log lines: while it retries a lost connection its core
    prints a WARN per retry to stdout, which would bury the one line `kripto trade` owes the
    person (and break --json). What went wrong reaches them as the error the call raises."""
    return Runtime(telemetry=TelemetryConfig(logging=None))


async def start_trade(
    settings: Settings,
    request: TradeRequest,
    *,
    execution: str | None = None,
    maker_only: bool = False,
) -> tuple[Order, bool]:
    """Start once per key; a key that traded before gives its earlier order back."""
    client = await connect(settings, runtime=quiet_runtime())
    if await service.kill_switch_engaged(client, settings, request.product_id):
        # The kill switch stops automatic trading; a person's own trade is deliberate, so it
        # goes through, but not without saying so (to stderr: --json output stays JSON).
        errors.print(
            f"[yellow]note: the kill switch is on for {request.product_id}; this manual trade"
            " goes through[/yellow]",
            highlight=False,
            soft_wrap=True,
        )
    for past in await guards_passed(settings, request):
        # Said, not refused: a person's trade is not held to the automatic trades' guards.
        errors.print(
            f"[yellow]note: this trade goes past {past}; a person's trade is not held to the"
            " cooldown (the automatic trades are, and this one counts for it)[/yellow]",
            highlight=False,
            soft_wrap=True,
        )
    # From the moment the start is asked for, a Ctrl-C leaves a trade that may be running.
    interrupt.say(detached_line(request))
    try:
        started = await service.start_trade(
            client, settings, request, execution=execution, maker_only=maker_only
        )
    except KeyUsedForAnotherTrade as exc:
        raise fail(
            f"key {exc.trade_id} was used for {exc.first.summary}; this request is"
            f" {request.summary}. Use a new key for a new trade."
        ) from None
    try:
        return await service.order_of(started), started.existed
    except TradeFailed as exc:
        raise fail(f"trade {started.trade_id} failed: {exc}") from None


async def guards_passed(settings: Settings, request: TradeRequest) -> list[str]:
    """The automatic trades' guard this trade goes past (`kripto.risk.past_the_guards`),
    read from the books as the decisions read them; nothing when the books cannot be read
    (the trade itself needs no database here)."""
    from kripto.composition import risk_from_settings
    from kripto.db import connect as connect_db
    from kripto.db.decisions import DecisionRepository
    from kripto.risk import PastTrade, past_the_guards

    if settings.general.database_url is None:
        return []
    now = datetime.now(UTC)
    day_ago = now - timedelta(days=1)
    quote = currencies(request.product_id)[1]
    try:
        risk = risk_from_settings(settings.risk, settings.strategy)
        db = await connect_db(settings.general.database_url, run_migrations=False)
        try:
            recent = [PastTrade.of(t) for t in await service.trades_since(db, day_ago, quote=quote)]
            for r in await DecisionRepository(db).reservations(day_ago, quote=quote):
                recent.append(PastTrade(r.at, Side(r.action), r.amount, r.product_id))
        finally:
            await db.close()
    except Exception:
        return []
    return past_the_guards(request.product_id, recent_trades=recent, now=now, risk=risk)


@trade_app.command("status")
def status(
    key: Annotated[str, typer.Argument(metavar="KEY", help="The trade's idempotency key.")],
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Show the trade KEY (or its first characters, as the tables show them, when they name one
    trade): its request, whether it runs, completed or failed, and its order."""
    settings = settings_for(data_dir)
    key = run(resolve_key(settings, key))
    shown = run(trade_status(settings, key))
    if as_json:
        print_json(shown.to_json())
        return
    console.print(f"trade {key}: {shown.summary}", highlight=False, soft_wrap=True)
    console.print(f"status: {shown.status_line}", highlight=False, soft_wrap=True)
    if shown.order is not None:
        asked = shown.request.amount if shown.request is not None else None
        for line in trade_summary_lines(key, shown.order, _label(settings), asked):
            console.print(line, highlight=False, soft_wrap=True)
    elif shown.status == "running" and shown.request is not None:
        request = shown.request
        amount = f"{request.amount}" + (
            f" --product {request.product_id}" if request.product_id != "BTC-GBP" else ""
        )
        console.print(
            f"to wait for it: kripto trade {request.trade_type.value} {amount} --key {key}",
            highlight=False,
            soft_wrap=True,
        )


@trade_app.command("abandon")
def abandon(
    key: Annotated[
        str,
        typer.Argument(metavar="KEY", help="The trade's idempotency key, or its first characters."),
    ],
    reason: Annotated[
        str,
        typer.Option(help="Why it is abandoned (kept with who asked).", show_default=False),
    ],
    data_dir: DataDir = None,
) -> None:
    """End the running trade KEY (a step that waits on an error that will never clear) and
    leave its row to the reconciler: it completes the row once the exchange has ended its order
    (settled: the filled figures and one receipt; nothing filled: closed as unfilled)."""
    text = reason.strip()
    if not text:
        raise fail("--reason: say why the trade is abandoned, e.g. --reason 'order stuck'")
    if len(text) > 500:
        raise fail(f"--reason: must be at most 500 characters, not {len(text)}")
    by = f"{getpass.getuser()}@{socket.gethostname()}"
    settings = settings_for(data_dir)
    key = run(resolve_key(settings, key))  # the 8 characters the tables show will do
    for line in run(abandon_trade(settings, key, text, by)):
        console.print(line, highlight=False, soft_wrap=True)


async def abandon_trade(settings: Settings, key: str, reason: str, by: str) -> list[str]:
    """Note who abandoned the trade and why, then terminate its workflow; returns what to say
    (what the books hold for it, and what the reconciler will do)."""
    client = await connect(settings, runtime=quiet_runtime())
    async with open_database(settings) as db:
        try:
            order = await service.abandon(client, db, key, reason, by)
        except service.NotAbandoned as exc:
            raise fail(str(exc)) from None
    lines = [f"trade {key} abandoned: its workflow is terminated ({reason}; {by})"]
    if order is None:
        lines.append("it has no row on the books: no order was placed under its key")
    elif order.settled:
        lines.append(f"its row is settled already (order {order.id}): nothing is left to do")
    else:
        named = f"order {order.id}" if order.id else "its order, not named yet"
        lines.append(
            f"its row is unsettled ({named}): left to the reconciler, which completes it once"
            " the exchange has ended the order (settled: the filled figures and one receipt;"
            " nothing filled: closed as unfilled). `kripto reconcile` runs it now."
        )
    return lines


async def resolve_key(settings: Settings, key: str) -> str:
    """KEY as given when a trade has it; else the one trade whose key starts with it (the
    tables show 8 characters), said on stderr; several say so, and ask for more of it. A whole
    key (a UUID, as Kripto makes them) is taken as it is, without asking Postgres."""
    if len(key) >= 36 or not settings.general.database_url:
        return key  # a whole key, or no books to look a prefix up in
    async with open_database(settings) as db:
        repository = TradeRepository(db)
        if await repository.get(key) is not None:
            return key
        found = await repository.keys_starting(key)
    if len(found) == 1:
        errors.print(f"note: {key} is trade {found[0]}", highlight=False, soft_wrap=True)
        return found[0]
    if len(found) > 1:
        shown = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
        raise fail(
            f"KEY: {key!r} begins {'more than 5' if len(found) > 5 else len(found)} trades'"
            f" keys ({shown}); give more of it"
        )
    return key


async def trade_status(settings: Settings, key: str) -> TradeStatus:
    client = await connect(settings, runtime=quiet_runtime())
    try:
        return await service.trade_status(client, key)
    except NoSuchTrade as exc:
        raise fail(str(exc)) from None


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
    return await service.wallet(await connect(settings), settings)


def trades(
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1, max=10000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List the recorded trades, newest first."""
    settings = settings_for(data_dir)
    rows, fills = run(recent_trades(settings, limit))
    if as_json:
        print_json([o.to_json_dict() for o, _ in rows])
        return
    label = _label(settings)
    title = f"Trades, newest first{f' ({label})' if label else ''}"
    liquidity = {key: liquidity_label(f) for key, f in fills.items()}
    orders = [o for o, _ in rows]
    console.print(orders_table(orders, title, [a for _, a in rows], liquidity))


def _label(settings: Settings) -> str | None:
    """PAPER (the paper exchange) and SIMULATED prices, as the receipts say them."""
    from kripto.mail.receipt import mode_label

    return mode_label(settings.exchange.exchange, settings.exchange.feed)


async def recent_trades(
    settings: Settings, limit: int
) -> tuple[list[tuple[Order, Decimal | None]], dict[str, list[TradeFill]]]:
    """The latest trades with what each was asked for, and the fills of each (maker or
    taker), by key."""
    async with open_database(settings) as db:
        return await service.recent_trades_with_fills(db, limit)


def show_orders(orders: list[Order], title: str) -> None:
    console.print(orders_table(orders, title))
