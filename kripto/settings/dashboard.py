"""The trader's dashboard (`kripto dashboard`) and the stop link in every receipt."""

from __future__ import annotations

import re
from datetime import timedelta

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
    #: Needed to sign in (reading, pause, resume, trade); at least 32 characters. Unset: read
    #: from `<data dir>/dashboard-token` (written by `kripto dev`); else the dashboard is closed.
    dashboard_token: SecretStr | None = None
    #: Where people reach the dashboard (the receipt's stop link); unset: the dashboard's address.
    public_url: str | None = None
    #: Signs the receipts' stop links. Unset: `<data dir>/stop-link-secret`; else no stop link.
    stop_link_secret: SecretStr | None = None
    #: A dashboard session ends after this long without a request (and at Sign out).
    dashboard_session_idle: timedelta = timedelta(minutes=30)
    #: The reverse proxies whose X-Forwarded-For/-Proto the dashboard believes (uvicorn's
    #: forwarded_allow_ips: addresses, comma-separated). Unset: none, not even loopback.
    dashboard_forwarded_allow_ips: str | None = None

    @field_validator("dashboard_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        """At least 32 characters (docs/security.md): a token that can be guessed is none."""
        if value is not None and len(value.get_secret_value().strip()) < 32:
            raise ValueError(
                f"must be at least 32 characters, not {len(value.get_secret_value().strip())}"
                " (make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

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
