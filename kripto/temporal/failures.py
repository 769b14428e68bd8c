"""Temporal wraps a failure in layers (workflow → child → activity → application error); what a
person needs to read is the innermost one."""

from __future__ import annotations


def root_cause(error: BaseException) -> BaseException:
    """The innermost error of a Temporal failure chain, following each `cause`."""
    while (inner := getattr(error, "cause", None)) is not None:
        error = inner
    return error
