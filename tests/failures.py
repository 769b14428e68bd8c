from __future__ import annotations


def root_cause(error: BaseException) -> str:
    """The innermost message of a Temporal failure chain (workflow → activity → application)."""
    while (inner := getattr(error, "cause", None)) is not None:
        error = inner
    return str(error)
