"""Every payload recorded in tests/histories/ must still decode with today's types: activity
inputs and results, child-workflow inputs and results, and workflow inputs and results. Replay
alone cannot see this (it does not decode activity inputs), yet a trade in flight across a
deploy hands its recorded payloads to the new build's activities."""

from __future__ import annotations

import base64
import json
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.backfill import BackfillActivities
from activities.deciding import DecideActivities
from activities.maker_first import MakerFirstSteps
from activities.notify import NotifyActivities
from activities.rates import RateActivities
from activities.reconcile import ReconcileActivities
from activities.trading import TradeActivities
from kripto.inputs import parse_input, parse_trade_request
from kripto.models import (
    BackfillInput,
    DecideMarketsInput,
    ExchangeTickInput,
    PlacedOrder,
    ReconcileRequest,
    StoreRatesInput,
    WalletRequest,
)
from kripto.notify.commands import BotPoll
from kripto.notify.events import Notify, SummaryDay
from kripto.runtime.worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))
CONVERTER = pydantic_data_converter.payload_converter


def trade_input(args: list[Any]) -> object:
    """A trade's request; a run continued while it waited also carries its placed order."""
    if len(args) == 2:
        return parse_trade_request(args[:1]), PlacedOrder.model_validate(args[1])
    return parse_trade_request(args)


#: Each workflow's input, as the workflow itself checks it (workflows take raw arguments).
WORKFLOW_INPUTS: dict[str, Callable[[list[Any]], object]] = {
    "TradeWorkflow": trade_input,
    "WalletWorkflow": lambda args: parse_input(WalletRequest, args),
    "BackfillWorkflow": lambda args: parse_input(BackfillInput, args),
    "NotifyWorkflow": lambda args: parse_input(Notify, args),
    "DailySummaryWorkflow": lambda args: parse_input(SummaryDay, args),
    "TelegramBotWorkflow": lambda args: parse_input(BotPoll, args),
    "ReconcileWorkflow": lambda args: parse_input(ReconcileRequest, args),
    "ExchangeTickWorkflow": lambda args: parse_input(ExchangeTickInput, args),
    "StoreRatesWorkflow": lambda args: parse_input(StoreRatesInput, args),
    "DecideMarketsWorkflow": lambda args: parse_input(DecideMarketsInput, args),
}
WORKFLOW_RESULTS = {w.__name__: typing.get_type_hints(w.run)["return"] for w in WORKFLOWS}  # type: ignore[attr-defined]


def activity_types() -> dict[str, tuple[type, type]]:
    """Activity name → (input type, result type), from today's activity methods."""
    found = {}
    for cls in (
        RateActivities,
        DecideActivities,
        TradeActivities,
        MakerFirstSteps,  # TradeActivities' maker-first steps, mixed in
        BackfillActivities,
        NotifyActivities,
        ReconcileActivities,
    ):
        for name, fn in vars(cls).items():
            if hasattr(fn, "__temporal_activity_definition"):
                hints = typing.get_type_hints(fn)
                [arg] = [v for k, v in hints.items() if k != "return"]
                found[name] = (arg, hints["return"])
    return found


ACTIVITIES = activity_types()


def payloads(attrs: dict[str, Any], key: str) -> list[Payload]:
    return [
        Payload(
            metadata={k: base64.b64decode(v) for k, v in p.get("metadata", {}).items()},
            data=base64.b64decode(p.get("data", "")),
        )
        for p in attrs.get(key, {}).get("payloads", [])
    ]


def recorded_payloads(path: Path) -> Iterator[tuple[str, str, list[Payload]]]:
    """(what, type name, payloads) for every payload the history holds."""
    events = json.loads(path.read_text())["events"]
    scheduled: dict[str, str] = {}
    children: dict[str, str] = {}
    workflow_type = ""
    for event in events:
        kind = event["eventType"].removeprefix("EVENT_TYPE_")
        attrs: dict[str, Any] = next((v for k, v in event.items() if k.endswith("Attributes")), {})
        if kind == "WORKFLOW_EXECUTION_STARTED":
            workflow_type = attrs["workflowType"]["name"]
            yield "workflow input", workflow_type, payloads(attrs, "input")
        elif kind == "WORKFLOW_EXECUTION_COMPLETED":
            yield "workflow result", workflow_type, payloads(attrs, "result")
        elif kind == "WORKFLOW_EXECUTION_FAILED":  # a late tick ends so (rate_tick-v4-late)
            yield "workflow failed", workflow_type, []
        elif kind == "WORKFLOW_EXECUTION_CONTINUED_AS_NEW":  # a long wait (trade-v3-first)
            yield "workflow continued", workflow_type, payloads(attrs, "input")
        elif kind == "ACTIVITY_TASK_SCHEDULED":
            scheduled[event["eventId"]] = attrs["activityType"]["name"]
            yield "activity input", attrs["activityType"]["name"], payloads(attrs, "input")
        elif kind == "ACTIVITY_TASK_COMPLETED":
            yield "activity result", scheduled[attrs["scheduledEventId"]], payloads(attrs, "result")
        elif kind == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
            children[event["eventId"]] = attrs["workflowType"]["name"]
            yield "child input", attrs["workflowType"]["name"], payloads(attrs, "input")
        elif kind == "CHILD_WORKFLOW_EXECUTION_COMPLETED":
            yield "child result", attrs["workflowType"]["name"], payloads(attrs, "result")


def decode(what: str, name: str, raw: list[Payload]) -> object:
    if what == "workflow failed":
        return None
    if what in ("workflow input", "child input", "workflow continued"):
        return WORKFLOW_INPUTS[name](CONVERTER.from_payloads(raw))
    if what in ("workflow result", "child result"):
        [value] = CONVERTER.from_payloads(raw, [WORKFLOW_RESULTS[name]])
        return value
    arg, result = ACTIVITIES[name]
    [value] = CONVERTER.from_payloads(raw, [arg if what == "activity input" else result])
    return value


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_every_recorded_payload_decodes_with_todays_types(path: Path) -> None:
    decoded = [
        (what, name)
        for what, name, raw in recorded_payloads(path)
        if decode(what, name, raw) is not None or True
    ]
    kinds = {what for what, _ in decoded}
    ends = {"workflow result", "workflow failed", "workflow continued"}
    assert "workflow input" in kinds and kinds & ends
    assert len(decoded) >= 3


def test_the_recorded_trade_covers_each_step_after_placing() -> None:
    """trade-v1 is the history a trade in flight today would bring to the next build."""
    names = {name for what, name, _ in recorded_payloads(HISTORIES[0].with_name("trade-v1.json"))}
    assert {"place_order", "write_trade", "send_receipt", "TradeWorkflow"} <= names


def test_internal_payloads_tolerate_unknown_fields_but_the_trade_request_does_not() -> None:
    """A newer build may add fields: today's internal models ignore them and default the ones
    they lack; only the user's trade request refuses a field it does not know."""
    step = {"tradeId": "k", "request": {"tradeType": "buy", "amount": "10.00", "new": 1}, "x": 2}
    [arg, _] = ACTIVITIES["place_order"]
    [value] = CONVERTER.from_payloads(CONVERTER.to_payloads([step]), [arg])
    assert value.trade_id == "k"
    with pytest.raises(Exception, match="new: Extra inputs are not permitted"):
        parse_trade_request([{"tradeType": "buy", "amount": "10.00", "new": 1}])
