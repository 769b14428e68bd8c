"""What a workflow accepts from outside (a schedule, `kripto`, the plain `temporal` CLI, the Web
UI), and the one-line reason when it refuses.

Workflows take their arguments undecoded and check them here, so that anything at all (no
input, two inputs, `null`, a number, a string, a misspelt field) ends the workflow at once with
a reason that names the field and the rule: never a workflow task retrying, and never a
worker-wide failure type, which would also fail a trade whose *activity result* no longer
decodes after a deploy (that must retry until a fixed build takes it)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from kripto.errors import InvalidInput
from kripto.models import TradeRequest

#: Plain decimal text as the seed writes it: ASCII digits, an optional point and at most two
#: decimal places, at most seven digits of pounds (the per-trade maximum is lower still).
AMOUNT_TEXT = re.compile(r"^[0-9]{1,7}(\.[0-9]{1,2})?$")
AMOUNT_RULE = 'plain decimal text with at most 2 decimal places, such as "10.00"'
#: Coins (`baseSize`, a sell of the whole position): plain decimal text to the satoshi.
SIZE_TEXT = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,8})?$")
SIZE_RULE = 'plain decimal text with at most 8 decimal places, such as "0.01"'
EXAMPLE = '{"idempotencyKey": "<the workflow ID>", "tradeType": "buy", "amount": "10.00"}'


class UserTradeRequest(TradeRequest):
    """The strict form: unknown fields are mistakes (a misspelt `ammount` must not become a
    default), and the amount must be written as text, not a JSON number that went through
    floating point."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_text(cls, value: Any) -> Any:
        if isinstance(value, Decimal):  # built in Python, not parsed from JSON
            return value
        if not isinstance(value, str):
            raise ValueError(f"must be {AMOUNT_RULE}, not {_json_kind(value)}")
        problem = amount_problem(value)
        if problem is not None:
            raise ValueError(f"{problem}; got {_excerpt(value)}")
        return value

    @field_validator("base_size", mode="before")
    @classmethod
    def _size_text(cls, value: Any) -> Any:
        """Coins as plain decimal text too (`"0.01"`), at most 8 places (the satoshi)."""
        if value is None or isinstance(value, Decimal):
            return value
        if not isinstance(value, str):
            raise ValueError(f"must be {SIZE_RULE}, not {_json_kind(value)}")
        if not SIZE_TEXT.match(value) or Decimal(value) <= 0:
            raise ValueError(f"must be {SIZE_RULE} above zero; got {_excerpt(value)}")
        return value


#: What people type instead of plain decimal text, and Kripto's word for each. Checked in
#: order; the first that fits names the problem. None of them widens what is accepted: an
#: amount passes only when AMOUNT_TEXT matches and it is above zero.
_AMOUNT_MISTAKES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^$"), 'must not be empty; write it like "10.00"'),
    (re.compile(r"^(?i:nan|[+-]?inf(inity)?)$"), "must be a number"),
    (
        re.compile(r"[£$€¥]|^[A-Z]{3}|[A-Z]{3}$"),
        'must be a number without a currency symbol or code, like "10.00"',
    ),
    (re.compile(r"\s"), 'must not contain spaces; write it like "10.00"'),
    (re.compile(r"^-"), "must be greater than 0"),
    (re.compile(r"^\+"), 'must not have a sign; write it like "10.00"'),
    (re.compile(r","), 'must not contain separators such as ","; write 1,000.00 as "1000.00"'),
    (re.compile(r"^[0-9.]*[eE][+-]?[0-9]*$"), 'must be written out in full, not as "1e3"'),
    (re.compile(r"[^\x00-\x7f]"), "must use the digits 0-9 only"),
    (re.compile(r"\..*\."), "must have at most one decimal point"),
    (re.compile(r"^\."), 'must have a digit before the point; write .50 as "0.50"'),
    (re.compile(r"\.$"), 'must have digits after the point; write 10. as "10.00"'),
    (re.compile(r"\.[0-9]{3,}$"), "must have at most 2 decimal places (pennies)"),
    (re.compile(r"^[0-9]{8,}"), "must have at most 7 digits before the point"),
)


def amount_problem(text: str) -> str | None:
    """Why `text` is not an amount Kripto takes, in Kripto's words, or None when it is one."""
    if AMOUNT_TEXT.match(text):
        return None if Decimal(text) > 0 else "must be greater than 0"
    for pattern, problem in _AMOUNT_MISTAKES:
        if pattern.search(text):
            return problem
    return f"must be {AMOUNT_RULE}"


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class NotJson:
    """A workflow input marked as JSON whose data is not JSON at all (see
    kripto.temporal.converter): refused like any other bad input. `start` is its beginning."""

    start: str


def _not_json(value: NotJson) -> InvalidInput:
    return InvalidInput(f"input: the payload is not JSON (it starts {_excerpt(value.start)})")


def parse_input(model: type[M], args: Sequence[Any]) -> M:
    """An internal workflow's one input (a tick's, a wallet's): tolerant of unknown fields like
    every internal payload; no input at all means the model's defaults."""
    if len(args) > 1:
        raise InvalidInput(f"input: {model.__name__} takes one JSON object; got {len(args)} inputs")
    value = args[0] if args else {}
    if isinstance(value, NotJson):
        raise _not_json(value)
    if not isinstance(value, dict):
        raise InvalidInput(f"input: {model.__name__} takes a JSON object; got {_json_kind(value)}")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidInput(describe(exc)) from None


def parse_trade_request(args: Sequence[Any]) -> TradeRequest:
    """The one trade request in a workflow's raw arguments, or InvalidInput saying why not."""
    for value in args:
        if isinstance(value, NotJson):
            raise _not_json(value)
    if len(args) != 1:
        given = "no input" if not args else f"{len(args)} inputs"
        raise InvalidInput(
            f"input: a trade takes exactly one JSON object, like {EXAMPLE}; got {given}"
        )
    [value] = args
    if isinstance(value, NotJson):
        raise _not_json(value)
    if not isinstance(value, dict):
        raise InvalidInput(
            f"input: a trade must be a JSON object, like {EXAMPLE}; got {_json_kind(value)}"
        )
    try:
        request = UserTradeRequest.model_validate(value)
    except ValidationError as exc:
        raise InvalidInput(describe(exc)) from None
    return TradeRequest.model_validate(request.model_dump())


def describe(exc: ValidationError) -> str:
    """`amount: must be …; tradeType: Input should be 'buy' or 'sell'`: one line, fields named
    as the user wrote them (camelCase)."""
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(_field_name(p) for p in err["loc"]) or "input"
        parts.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _field_name(part: str | int) -> str:
    """A field as the user wrote it, quoted when it is not a plain name (a key of `"\\n"` must
    not break the one-line message)."""
    if isinstance(part, int) or part.isidentifier():
        return str(part)
    return _excerpt(part)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_excerpt(value)}"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _excerpt(text: str, limit: int = 40) -> str:
    shown = text if len(text) <= limit else text[:limit] + "…"
    return repr(shown)
