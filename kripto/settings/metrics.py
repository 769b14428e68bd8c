"""How the worker is seen: Prometheus metrics, /healthz and its logs."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from kripto.settings.base import Section


class MetricsSection(Section):
    """How the worker is seen: Prometheus metrics, /healthz and its logs (docs/operating.md).
    Port 0 turns a server off."""

    #: Where the worker serves Prometheus metrics (the Temporal SDK's and Kripto's, one endpoint)
    #: and /healthz. Loopback unless told otherwise; the compose worker listens on its network.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9464, ge=0, le=65535)
    health_port: int = Field(9465, ge=0, le=65535)
    #: How often the worker reads its gauges (newest rate's age, unsettled trades, kill switch).
    metrics_sample_every: timedelta = timedelta(seconds=15)
    #: `text` for people (one line per event), `json` for a log collector (one object per line).
    log_format: Literal["text", "json"] = "text"
