"""The connection the services use: a Temporal client, opened once per command or process
from the settings. Faces hold it as an opaque `Connection` and hand it back to the services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio.client import Client

from kripto.temporal.client import connect_client

if TYPE_CHECKING:
    from temporalio.runtime import Runtime

    from kripto.settings import Settings

#: What a face holds between service calls.
Connection = Client


async def connect(settings: Settings, runtime: Runtime | None = None) -> Connection:
    return await connect_client(settings, runtime=runtime)
