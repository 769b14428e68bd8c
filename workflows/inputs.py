"""A workflow's own input, checked in the workflow: bad input fails it at once (non-retryable,
naming the field), and a payload from another build decodes with today's tolerant models."""

from collections.abc import Sequence
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities.errors import temporal_errors
    from kripto.inputs import parse_input

M = TypeVar("M", bound=BaseModel)


def decoded(model: type[M], args: Sequence[Any]) -> M:
    with temporal_errors():
        return parse_input(model, args)
