"""trade: place one market order exactly once, wait for it to settle, record it, send a receipt.

The workflow ID is the idempotency key at every layer: the exchange's client order ID, the
trade row's key and the receipt's key. A second run under the same ID (a duplicate start, or a
re-run from the plain `temporal` CLI after the first finished) returns the first run's order and
places nothing."""

from datetime import timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ContinueAsNewVersioningBehavior

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from activities.errors import temporal_errors
    from kripto.inputs import parse_trade_request
    from kripto.models import Order, PlacedOrder, TradeRequest, TradeStep
    from kripto.money import fmt_money
    from kripto.notify.messages import trade_done, trade_refused
    from kripto.temporal.failures import root_cause
    from kripto.temporal.search_attributes import (
        AMOUNTS_MEMO,
        TRADE,
        TRADE_STEP,
        trade_attributes,
        trade_summary,
    )
    from kripto.trade_orders import (
        FinishInput,
        MakerInput,
        PrepareInput,
        StepResult,
        TradePlan,
    )
    from workflows import policies
    from workflows.notify import start_notification
    from workflows.policies import EXCHANGE_RETRY, SETTLE_RETRY

RECEIPT_NOT_SENT = "done; receipt not sent"
#: The patch under which a long wait continues as new carrying its order, on the current build.
CARRY_ORDER = "continue-carrying-the-order"
#: The last step of a second run under a key that had traded: it returns the first order.
ALREADY_TRADED = "done: already traded, placed nothing"
#: A Keyword search attribute is for short values; the whole reason is in the failure itself.
STEP_LIMIT = 200
#: Trades that started after this change tell the phone how they ended (workflows/notify.py).
NOTIFY_PATCH = "notify-trade-outcome"
#: Trades that started after this change prepare a plan first and, under KRIPTO_EXECUTION=
#: maker_first, go maker-first (docs/execution.md); a trade already running carries on with
#: its market order.
MAKER_FIRST = "maker-first-execution"
#: The starter's memo keys for a person's choice: `--taker` (execution "taker") and
#: `--maker-only` (makerOnly true).
EXECUTION_MEMO = "execution"
MAKER_ONLY_MEMO = "makerOnly"
#: How often a taker order that has not ended yet (a market order settling) is read again.
TAKER_POLL = timedelta(seconds=2)


@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class TradeWorkflow:
    def __init__(self) -> None:
        self.step = "starting"
        #: False when payloads are encrypted: amounts then stay out of the search attributes
        #: (which no codec reaches), the summaries and the details. Set by the starter's memo.
        self.amounts = True
        self.request: TradeRequest | None = None

    @workflow.query
    def current_step(self) -> str:
        return self.step

    @workflow.run
    async def run(self, *args: Any) -> Order:
        """The trade, then a notification of how it ended: a child workflow, abandoned, so
        the trade never waits on Telegram or a webhook."""
        trade_id = workflow.info().workflow_id
        try:
            order = await self._run(*args)
        except ActivityError as err:
            # Refused by the limits, the funds or the exchange. An input that is not a trade
            # request at all is no refused trade: it ends FAILED in its first task, unannounced.
            if workflow.patched(NOTIFY_PATCH):
                reason = str(root_cause(err))
                await start_notification(trade_refused(trade_id, self.request, reason))
            raise
        if workflow.patched(NOTIFY_PATCH):
            await start_notification(trade_done(trade_id, order))
        return order

    async def _run(self, *args: Any) -> Order:
        """Takes its input undecoded: whatever a client sends (nothing, two things, `null`, a
        string, a misspelt field) fails the trade at once with a reason that names the field."""
        trade_id = workflow.info().workflow_id
        self.amounts = bool(workflow.memo_value(AMOUNTS_MEMO, True))
        inputs, carried = list(args), None
        if workflow.info().continued_run_id is not None and len(inputs) == 2:
            # A run continued while it waited: its order is placed, and the checks are done.
            carried = PlacedOrder.model_validate(inputs.pop())
        try:
            with temporal_errors():
                request = parse_trade_request(inputs)
        except ApplicationError as err:
            self._failed(str(err))
        self.request = request
        if request.idempotency_key is not None and request.idempotency_key != trade_id:
            self._failed(
                f"idempotencyKey {request.idempotency_key!r} differs from the workflow ID"
                f" {trade_id!r}; the workflow ID is the trade's key, so they must match"
            )
        try:
            return await self._trade(trade_id, request, carried)
        except ActivityError as err:
            reason = str(root_cause(err)) if self.amounts else "see the failure"
            self._at(f"failed: {reason}", request)
            raise

    async def _trade(
        self, trade_id: str, request: TradeRequest, carried: PlacedOrder | None
    ) -> Order:
        if carried is not None:
            return await self._settle(request, carried, None, placed_nothing=False)
        if workflow.patched(MAKER_FIRST):
            self._at("placing the order", request)
            plan = await self._prepare(trade_id, request)
            if plan.execution == "maker_first" and not plan.already_traded:
                return await self._maker_first(trade_id, request, plan)
        if self.step != "placing the order":
            self._at("placing the order", request)
        placing = await workflow.execute_activity(
            interfaces.place_order,
            TradeStep(trade_id=trade_id, request=request),
            # Claim the key, one exchange lookup-and-place, read the order back: each HTTP
            # request times out in 10 s. If a worker dies mid-call, the heartbeat timeout lets
            # the next attempt start soon, and it finds the order by its key.
            start_to_close_timeout=timedelta(seconds=45),
            heartbeat_timeout=timedelta(seconds=25),
            retry_policy=EXCHANGE_RETRY,
            summary=f"place {trade_summary(request, amounts_visible=self.amounts)}",
        )
        order = placing.order()
        # A run continued-as-new finds its own earlier run's order: that is not a second trade.
        placed_nothing = placing.already_traded and workflow.info().continued_run_id is None
        if placed_nothing:
            workflow.set_current_details(
                f"**{trade_summary(request, amounts_visible=self.amounts)}**: already traded"
                f" under this key (order"
                f" {order.id}): placing nothing, finishing the first trade's steps"
            )

        placed = PlacedOrder(trade_id=trade_id, order_id=order.id)
        return await self._settle(request, placed, order, placed_nothing=placed_nothing)

    async def _settle(
        self,
        request: TradeRequest,
        placed: PlacedOrder,
        order: Order | None,
        *,
        placed_nothing: bool,
    ) -> Order:
        """Wait for the order to settle (only the exchange's verdict ends a placed order), then
        record it and send the receipt. `order` is None in a run continued while it waited."""
        if order is None or not order.settled:
            self._at("waiting for the order to settle", request, f"order {placed.order_id}")
        rounds = 0
        while order is None or not order.settled:
            if rounds == policies.SETTLE_ROUNDS_PER_RUN:
                self._continue(request, placed)
            order = await workflow.execute_activity(
                interfaces.await_settlement,
                placed,
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=timedelta(seconds=20),
                retry_policy=SETTLE_RETRY,
                summary=f"await settlement of {placed.order_id}",
            )
            rounds += 1

        self._at("recording the trade", request)
        await workflow.execute_activity(
            interfaces.write_trade,
            placed,
            start_to_close_timeout=timedelta(seconds=15),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        return await self._receipt(request, placed, order, placed_nothing=placed_nothing)

    async def _receipt(
        self, request: TradeRequest, placed: PlacedOrder, order: Order, *, placed_nothing: bool
    ) -> Order:
        trade_id = placed.trade_id
        self._at("sending the receipt", request)
        try:
            await workflow.execute_activity(
                interfaces.send_receipt,
                placed,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
        except ActivityError as err:
            # Only a final refusal gets here (a sender SES will not use, bad AWS credentials):
            # the trade happened and is recorded, so it must not read as a failed trade.
            reason = str(root_cause(err))
            workflow.logger.warning("trade %s: receipt not sent: %s", trade_id, reason)
            self._at(RECEIPT_NOT_SENT, request, reason if self.amounts else "")
            return order
        if placed_nothing:
            self._at(ALREADY_TRADED, request, f"order {order.id}, placed by an earlier run")
        else:
            self._at("done", request, f"order {order.id}")
        return order

    # -- maker-first (docs/execution.md) ---------------------------------------------------

    async def _prepare(self, trade_id: str, request: TradeRequest) -> TradePlan:
        """The checks and the claim, and the plan: the execution and its settings, read once
        and recorded here, so the rest of the trade never depends on a worker's settings."""
        execution = workflow.memo_value(EXECUTION_MEMO, None)
        return await workflow.execute_activity(
            interfaces.prepare_trade,
            PrepareInput(
                trade_id=trade_id,
                request=request,
                by_decision=workflow.info().parent is not None,
                execution=execution if execution in ("maker_first", "taker") else None,
                maker_only=bool(workflow.memo_value(MAKER_ONLY_MEMO, False)),
            ),
            start_to_close_timeout=timedelta(seconds=45),
            heartbeat_timeout=timedelta(seconds=25),
            retry_policy=EXCHANGE_RETRY,
            summary=f"prepare {trade_summary(request, amounts_visible=self.amounts)}",
        )

    async def _step(self, activity: Any, inp: MakerInput, what: str) -> StepResult:
        result: StepResult = await workflow.execute_activity(
            activity,
            inp,
            start_to_close_timeout=timedelta(seconds=45),
            heartbeat_timeout=timedelta(seconds=25),
            retry_policy=EXCHANGE_RETRY,
            summary=what,
        )
        return result

    def _price(self, request: TradeRequest, price: Any) -> str:
        if not self.amounts or price is None:
            return ""
        return f" at {fmt_money(price, request.product_id.partition('-')[2])}"

    async def _maker_first(self, trade_id: str, request: TradeRequest, plan: TradePlan) -> Order:
        """Place a post-only order at the touch, re-quote it when it is refused for crossing or
        the touch moves away, and when the window ends send what is left as a taker order (or
        not, as the plan says); then record the trade from its orders and send the receipt.
        Between looks at a resting order the trade waits on a durable timer, and before each
        new order the last one has ended (cancelled and confirmed, or filled)."""
        notes: list[str] = []
        deadline = workflow.now() + timedelta(seconds=plan.window_seconds)
        base = MakerInput(trade_id=trade_id, request=request, plan=plan, seq=1, end_time=deadline)
        seq, requotes = 1, 0
        last: StepResult | None = None
        touch = None
        fall_back = True
        if plan.maker_refused is not None:
            notes.append(f"no maker order: {plan.maker_refused}")
            self._at("maker orders refused (clock skew)", request, plan.maker_refused)
        elif plan.target_size is None and request.trade_type.value == "sell":
            notes.append("no usable best bid/ask to size the sell at the touch")
            fall_back = plan.stale_quote == "taker"
        else:
            while True:
                label = "placing the maker order" if seq == 1 else f"re-quoting: maker order {seq}"
                self._at(label, request)
                last = await self._step(
                    interfaces.place_maker,
                    base.model_copy(update={"seq": seq}),
                    f"post-only order {seq}",
                )
                touch = last.touch or touch
                if last.status == "crossed":
                    if requotes < plan.max_requotes and workflow.now() < deadline:
                        requotes, seq = requotes + 1, seq + 1
                        continue
                    notes.append("the post-only order would cross; no re-quotes left")
                    break
                if last.status == "stale":
                    held = plan.stale_quote == "hold"
                    notes.append(
                        f"stale quote ({last.reason}): {'held' if held else 'taker, capped'}"
                    )
                    fall_back = not held
                    break
                if last.status == "refused":
                    notes.append(f"the maker order was refused: {last.reason}")
                    fall_back = False
                    break
                if not last.live:
                    break
                requote = False
                self._at(
                    f"resting: maker order {seq}{self._price(request, last.limit_price)}",
                    request,
                    f"until {deadline:%H:%M:%S} UTC",
                )
                while last.live:
                    left = (deadline - workflow.now()).total_seconds()
                    if left <= 0:
                        break
                    await workflow.sleep(min(plan.check_seconds, left), summary="maker order rests")
                    ref = base.model_copy(
                        update={
                            "seq": seq,
                            "order_id": last.order_id,
                            "limit_price": last.limit_price,
                        }
                    )
                    last = await self._step(interfaces.check_maker, ref, f"look at order {seq}")
                    touch = last.touch or touch
                    if last.live and last.moved_away and requotes < plan.max_requotes:
                        self._at(f"re-quoting: cancelling maker order {seq}", request)
                        last = await self._step(interfaces.cancel_maker, ref, f"cancel order {seq}")
                        requote = True
                        break
                if last.live:
                    self._at(f"window ended: cancelling maker order {seq}", request)
                    ref = base.model_copy(update={"seq": seq, "order_id": last.order_id})
                    last = await self._step(interfaces.cancel_maker, ref, f"cancel order {seq}")
                if requote and last.status != "filled" and workflow.now() < deadline:
                    requotes, seq = requotes + 1, seq + 1
                    continue
                break
            if last.order_id is not None or last.status not in ("stale", "done", "expired"):
                seq += 1  # that number has an order on the books; the next one gets the next
        filled = last is not None and last.status in ("filled", "done")
        if not filled and fall_back:
            if plan.maker_only:
                notes.append("maker only (--maker-only): the remainder was not traded")
            elif plan.by_decision and plan.fallback == "skip":
                notes.append("the remainder was skipped (KRIPTO_MAKER_FALLBACK=skip)")
            else:
                await self._taker_remainder(base, seq, request, touch)
        self._at("recording the trade", request)
        order: Order = await workflow.execute_activity(
            interfaces.finish_trade,
            FinishInput(trade_id=trade_id, request=request, outcome="; ".join(notes) or None),
            start_to_close_timeout=timedelta(seconds=45),
            heartbeat_timeout=timedelta(seconds=25),
            retry_policy=EXCHANGE_RETRY,
        )
        placed = PlacedOrder(trade_id=trade_id, order_id=order.id)
        return await self._receipt(request, placed, order, placed_nothing=False)

    async def _taker_remainder(
        self, base: MakerInput, seq: int, request: TradeRequest, touch: Any
    ) -> None:
        self._at("falling back: taker order for the remainder", request)
        ref = base.model_copy(update={"seq": seq, "limit_price": touch})
        last = await self._step(interfaces.place_taker, ref, f"taker order {seq}")
        while last.live:
            await workflow.sleep(TAKER_POLL, summary="taker order settles")
            ref = ref.model_copy(update={"order_id": last.order_id})
            last = await self._step(interfaces.check_taker, ref, f"look at order {seq}")

    def _continue(self, request: TradeRequest, placed: PlacedOrder) -> NoReturn:
        """Continue a long wait as a new run: it carries the placed order and goes straight back
        to waiting (no look-up, no checks), and it starts on the current build (auto-upgrade),
        so a wait of days does not keep an old build running."""
        if workflow.patched(CARRY_ORDER):
            workflow.continue_as_new(
                args=[request.model_dump(mode="json"), placed.model_dump(mode="json")],
                initial_versioning_behavior=ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
            )
        workflow.continue_as_new(request.model_dump(mode="json"))

    def _failed(self, reason: str) -> NoReturn:
        """Refuse the input: the trade ends FAILED, with its step saying why."""
        self.step = f"failed: {reason}"
        workflow.logger.warning("trade refused: %s", reason)
        shown = self.step if self.amounts else "failed: invalid input (see the failure)"
        workflow.set_current_details(f"**{shown}**")
        workflow.upsert_search_attributes([TRADE_STEP.value_set(shown[:STEP_LIMIT])])
        raise ApplicationError(reason, type="InvalidInput", non_retryable=True)

    def _at(self, step: str, request: TradeRequest, detail: str = "") -> None:
        """Show the step: in the Web UI's list (search attributes), on the trade's own page
        (current details), and to `temporal workflow query --type current_step`."""
        self.step = step
        label = trade_summary(request, amounts_visible=self.amounts)
        workflow.logger.info("trade %s: %s", label, f"{step} ({detail})" if detail else step)
        details = f"**{label}**: {step}"
        workflow.set_current_details(f"{details} ({detail})" if detail else details)
        updates = [TRADE_STEP.value_set(step[:STEP_LIMIT])]
        if workflow.info().typed_search_attributes.get(TRADE) is None:
            # Once, at the start of a trade whose starter did not set them (the plain
            # `temporal` CLI): what the trade is, in the same upsert as its first step.
            updates += [
                pair.key.value_set(pair.value)
                for pair in trade_attributes(request, amounts_visible=self.amounts)
            ]
        workflow.upsert_search_attributes(updates)
