"""The Temporal cluster, the worker's task queue and versioning, and the rate schedule."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from kripto.settings.base import Section


def _check_version_name(value: str | None, *, allow_dot: bool) -> str:
    """Deployment names and build IDs travel in Temporal's `<deployment>.<build>` and
    `<deployment>:<build>` strings, so they must be short, printable and unambiguous."""
    if not value:
        raise ValueError("must not be empty")
    if any(c.isspace() for c in value) or not value.isprintable():
        raise ValueError(f"{value!r} must not contain spaces or control characters")
    if len(value) > 100:
        raise ValueError(f"must be at most 100 characters, not {len(value)}")
    if not allow_dot and "." in value:
        raise ValueError(f"{value!r} must not contain '.', which ends the name in Temporal")
    return value


class TemporalSection(Section):
    """The Temporal cluster, the worker's task queue and versioning, and the rate schedule."""

    #: KRIPTO_BUILD_ID= (empty) is refused by name; unset, it is derived from the code.
    blank_is_not_unset = frozenset({"build_id"})

    temporal_address: str = Field(
        "localhost:7233", json_schema_extra={"env": ["KRIPTO_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS"]}
    )
    temporal_namespace: str = Field(
        "default",
        json_schema_extra={"env": ["KRIPTO_TEMPORAL_NAMESPACE", "TEMPORAL_NAMESPACE"]},
    )
    task_queue: str = "kripto"
    #: How long a stopping worker (SIGTERM, Ctrl-C) lets its running activities finish before
    #: it cancels them and hands them back to Temporal for another worker.
    shutdown_grace: timedelta = timedelta(seconds=30)

    # A secured Temporal cluster (self-hosted with TLS, or Temporal Cloud). Any of these turns
    # TLS on; without a CA file the server's certificate is checked against the system's roots.
    temporal_tls: bool = False
    temporal_tls_ca_file: Path | None = None
    temporal_tls_cert_file: Path | None = None
    temporal_tls_key_file: Path | None = None
    temporal_tls_server_name: str | None = None
    #: Temporal Cloud API key; sent as a bearer token, so it always goes over TLS.
    temporal_api_key: SecretStr | None = None

    # Worker Versioning: see docs/deploying.md.
    deployment_name: str = "kripto"
    #: Unset: derived from the code (kripto.build_id), so each build has its own ID.
    build_id: str | None = None
    #: Off only for servers without Worker Deployments (the time-skipping test server).
    worker_versioning: bool = True
    #: How long trades pinned to a build whose workers are all gone wait for one to come back
    #: before the current build's worker moves them to the current build (docs/books.md).
    upgrade_grace: timedelta = timedelta(minutes=2)

    # The rate schedule.
    schedule_cron: str = "* * * * *"
    #: When set, the schedule runs at this interval instead of the cron (demos and tests).
    schedule_every: timedelta | None = None
    #: The Temporal Web UI, for links from the dashboard to each trade's workflow.
    temporal_ui_url: str = "http://localhost:8233"

    @field_validator("deployment_name", "build_id")
    @classmethod
    def _version_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.field_name == "build_id":
            from kripto.build_id import code_build_id

            return code_build_id()
        return _check_version_name(value, allow_dot=info.field_name == "build_id")

    @field_validator("temporal_ui_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from kripto.settings.dashboard import check_http_url

        return check_http_url(value) or value

    @model_validator(mode="after")
    def _temporal_tls(self) -> Self:
        """mTLS needs both halves; a lone certificate or key is a mistake, not a choice."""
        cert, key = self.temporal_tls_cert_file, self.temporal_tls_key_file
        if (cert is None) != (key is None):
            given, missing = (
                ("KRIPTO_TEMPORAL_TLS_CERT_FILE", "KRIPTO_TEMPORAL_TLS_KEY_FILE")
                if cert is not None
                else ("KRIPTO_TEMPORAL_TLS_KEY_FILE", "KRIPTO_TEMPORAL_TLS_CERT_FILE")
            )
            raise ValueError(
                f"{given} is set but {missing} is not: mTLS needs the client certificate"
                " and its private key together (set both, or neither)"
            )
        return self

    @property
    def temporal_uses_tls(self) -> bool:
        """TLS is on when asked for, when any TLS file is named, or with an API key (a bearer
        token must never cross the network in clear text)."""
        return (
            self.temporal_tls
            or self.temporal_api_key is not None
            or any(
                v is not None
                for v in (
                    self.temporal_tls_ca_file,
                    self.temporal_tls_cert_file,
                    self.temporal_tls_server_name,
                )
            )
        )

    @property
    def temporal_address_is_default(self) -> bool:
        """True when no source named a Temporal address: no TEMPORAL_ADDRESS (or
        KRIPTO_TEMPORAL_ADDRESS) and no dev.env, so it is localhost:7233 by default."""
        return "temporal_address" not in self.model_fields_set
