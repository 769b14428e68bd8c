"""Saved histories must replay with today's workflow code: a change that breaks determinism
for runs already in flight fails here, not in production."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from kripto.runtime.worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    """Under the workflow ID it ran with where it was recorded (a trade's notification child
    takes its ID from the trade's), else the file's name."""
    recorded = json.loads(path.read_text())
    return WorkflowHistory.from_json(recorded.pop("workflowId", path.stem), recorded)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_history_replays(path: Path) -> None:
    history = load(path)
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_there_is_a_history_for_each_flow() -> None:
    names = {p.stem.split("-")[0] for p in HISTORIES}
    assert {"trade", "reconcile"} <= names
    assert {"exchange_tick", "store_rates", "decide_markets"} <= names


def test_no_history_of_a_retired_type_is_kept() -> None:
    """A retired type's histories leave with its code (docs/architecture.md)."""
    names = {p.stem.split("-")[0] for p in HISTORIES}
    assert not names & {"rate_tick", "store_rate", "decide_trade"}
