"""Reading Coinbase's candle replies, and the backfill's input rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kripto.errors import FeedError, InvalidInput
from kripto.feeds.candles import parse_candles
from kripto.flows.backfill import BackfillInput
from kripto.inputs import parse_input

WHAT = "Coinbase candles for BTC-GBP"


def reply(*rows: dict[str, str]) -> bytes:
    return json.dumps({"candles": list(rows)}).encode()


def test_rows_become_rates_oldest_first_and_rows_outside_the_page_are_left() -> None:
    body = reply(
        {"start": "240", "close": "61000.5"},  # the page's end: the next page has it
        {"start": "120", "close": "60999.99", "open": "1"},
        {"start": "60", "close": "60000"},
    )
    rates = parse_candles(body, "BTC-GBP", 60, 240, WHAT)
    assert [(r.date_time, r.rate, r.source) for r in rates] == [
        (datetime(1970, 1, 1, 0, 1, tzinfo=UTC), Decimal("60000"), "coinbase-candles"),
        (datetime(1970, 1, 1, 0, 2, tzinfo=UTC), Decimal("60999.99"), "coinbase-candles"),
    ]


def test_a_bad_reply_is_named() -> None:
    with pytest.raises(FeedError, match="the reply is not a list of candles: '<html>oops'"):
        parse_candles(b"<html>oops", "BTC-GBP", 0, 60, WHAT)
    with pytest.raises(FeedError, match="the candle at 60 has close '-1'"):
        parse_candles(reply({"start": "60", "close": "-1"}), "BTC-GBP", 0, 120, WHAT)
    with pytest.raises(FeedError, match="a candle without a start and a close"):
        parse_candles(reply({"start": "60"}), "BTC-GBP", 0, 120, WHAT)


def test_a_backfill_span_must_run_forwards() -> None:
    with pytest.raises(
        InvalidInput, match="end 2026-01-01T00:00:00Z must be after start 2026-01-02T00:00:00Z"
    ):
        parse_input(
            BackfillInput, [{"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}]
        )
