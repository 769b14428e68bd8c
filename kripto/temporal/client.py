from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from kripto.settings import Settings, SettingsError


async def connect_client(settings: Settings) -> Client:
    """A client with the pydantic data converter, so models cross as camelCase JSON."""
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
        )
    except RuntimeError as exc:
        raise SettingsError(
            f"TEMPORAL_ADDRESS: cannot reach Temporal at {settings.temporal_address}"
            f" (is `kripto dev` running?): {exc}"
        ) from None
