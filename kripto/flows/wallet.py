"""The wallet's flow (WalletWorkflow): its input."""

from __future__ import annotations

from kripto.models import (
    Wire,
)


class WalletRequest(Wire):
    """WalletWorkflow takes no options yet; a model keeps `--input '{}'` working."""
