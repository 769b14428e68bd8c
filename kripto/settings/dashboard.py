"""The trader's dashboard (`kripto dashboard`) and the stop link in every receipt."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from kripto.settings.base import Section

DASHBOARD_TOKEN_FILE = "dashboard-token"
STOP_LINK_SECRET_FILE = "stop-link-secret"


def check_http_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be an http:// or https:// URL, for example http://127.0.0.1:8237")
    return value.rstrip("/") if value else value


class DashboardSection(Section):
    """The trader's dashboard and the stop link in every receipt."""

    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(8237, ge=1, le=65535)
    #: Needed for anything that changes state from the web (pause, resume, trade). Unset: read
    #: from `<data dir>/dashboard-token` (written by `kripto dev`); else such changes are refused.
    dashboard_token: SecretStr | None = None
    #: Where people reach the dashboard (the receipt's stop link); unset: the dashboard's address.
    public_url: str | None = None
    #: Signs the receipts' stop links. Unset: `<data dir>/stop-link-secret`; else no stop link.
    stop_link_secret: SecretStr | None = None

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_http_url(value)

    @property
    def dashboard_url(self) -> str:
        host = self.dashboard_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.dashboard_port}"

    @property
    def stop_link_base(self) -> str:
        """Where a receipt's stop link points: KRIPTO_PUBLIC_URL, else the dashboard."""
        return self.public_url or self.dashboard_url
