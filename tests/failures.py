from __future__ import annotations

from kripto.temporal import failures


def root_cause(error: BaseException) -> str:
    """The innermost message of a Temporal failure chain (workflow → activity → application)."""
    return str(failures.root_cause(error))
