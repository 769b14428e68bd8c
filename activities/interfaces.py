"""Each activity's name and its input and output: what a workflow needs to call one.

Workflows import this module and never the implementations (activities/trading.py and the
rest), so loading a workflow loads no database driver, HTTP client or mailer into the sandbox
(tests/unit/test_architecture.py checks it). A stub is never run: a workflow passes it to
`workflow.execute_activity`, which takes the name and the result type from it. The names are
the implementations' method names, which recorded histories schedule, so they must not change;
the architecture test checks that each stub matches its implementation's name and types."""

from __future__ import annotations

from temporalio import activity

from kripto.models import (
    BackfillChunk,
    BackfillChunkResult,
    DecideMarketsInput,
    DecideMarketsResult,
    FetchRatesInput,
    LateTick,
    Order,
    PlacedOrder,
    PlaceOrderResult,
    Prices,
    Rate,
    ReadRatesInput,
    ReconcileReport,
    ReconcileStep,
    StoreRatesInput,
    StoreRatesResult,
    TradeStep,
    Wallet,
    WalletRequest,
)
from kripto.notify.commands import BotPoll, BotUpdate, BotUpdates
from kripto.notify.events import BotHandled, Notify, NotifyResult, SummaryDay
from kripto.trade_orders import FinishInput, MakerInput, PrepareInput, StepResult, TradePlan


def _stub() -> NotImplementedError:
    return NotImplementedError("an activity interface: the worker runs the implementation")


# activities/trading.py: TradeActivities


@activity.defn(name="place_order")
async def place_order(step: TradeStep) -> PlaceOrderResult:
    raise _stub()


@activity.defn(name="await_settlement")
async def await_settlement(placed: PlacedOrder) -> Order:
    raise _stub()


@activity.defn(name="write_trade")
async def write_trade(placed: PlacedOrder) -> bool:
    raise _stub()


@activity.defn(name="send_receipt")
async def send_receipt(placed: PlacedOrder) -> bool:
    raise _stub()


# activities/maker_first.py: TradeActivities' maker-first steps (docs/execution.md)


@activity.defn(name="prepare_trade")
async def prepare_trade(inp: PrepareInput) -> TradePlan:
    raise _stub()


@activity.defn(name="place_maker")
async def place_maker(inp: MakerInput) -> StepResult:
    raise _stub()


@activity.defn(name="check_maker")
async def check_maker(inp: MakerInput) -> StepResult:
    raise _stub()


@activity.defn(name="cancel_maker")
async def cancel_maker(inp: MakerInput) -> StepResult:
    raise _stub()


@activity.defn(name="place_taker")
async def place_taker(inp: MakerInput) -> StepResult:
    raise _stub()


@activity.defn(name="check_taker")
async def check_taker(inp: MakerInput) -> StepResult:
    raise _stub()


@activity.defn(name="finish_trade")
async def finish_trade(inp: FinishInput) -> Order:
    raise _stub()


@activity.defn(name="get_wallet")
async def get_wallet(request: WalletRequest) -> Wallet:
    raise _stub()


# activities/rates.py: RateActivities


@activity.defn(name="report_late_tick")
async def report_late_tick(input: LateTick) -> int:
    raise _stub()


@activity.defn(name="fetch_rates")
async def fetch_rates(input: FetchRatesInput) -> Prices:
    raise _stub()


@activity.defn(name="write_rates")
async def write_rates(input: StoreRatesInput) -> StoreRatesResult:
    raise _stub()


@activity.defn(name="read_rates")
async def read_rates(input: ReadRatesInput) -> list[Rate]:
    raise _stub()


# activities/deciding.py: DecideActivities


@activity.defn(name="decide_markets")
async def decide_markets(input: DecideMarketsInput) -> DecideMarketsResult:
    raise _stub()


# activities/backfill.py: BackfillActivities


@activity.defn(name="backfill_chunk")
async def backfill_chunk(input: BackfillChunk) -> BackfillChunkResult:
    raise _stub()


# activities/reconcile.py: ReconcileActivities


@activity.defn(name="reconcile")
async def reconcile(step: ReconcileStep) -> ReconcileReport:
    raise _stub()


@activity.defn(name="send_found_receipt")
async def send_found_receipt(placed: PlacedOrder) -> bool:
    raise _stub()


# activities/notify.py: NotifyActivities


@activity.defn(name="send_notification")
async def send_notification(event: Notify) -> NotifyResult:
    raise _stub()


@activity.defn(name="send_daily_summary")
async def send_daily_summary(day: SummaryDay) -> NotifyResult:
    raise _stub()


@activity.defn(name="poll_updates")
async def poll_updates(poll: BotPoll) -> BotUpdates:
    raise _stub()


@activity.defn(name="handle_update")
async def handle_update(update: BotUpdate) -> BotHandled:
    raise _stub()
