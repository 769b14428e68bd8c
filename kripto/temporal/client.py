"""The one way Kripto connects to Temporal: the pydantic data converter, and TLS, mTLS or an API
key when the cluster asks for them (a self-hosted cluster behind TLS, or Temporal Cloud)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from kripto.errors import SettingsError
from kripto.temporal.converter import kripto_data_converter

if TYPE_CHECKING:  # the settings are handed in; loading them is the caller's
    from kripto.settings import Settings


def _read_pem(setting: str, path: Path) -> bytes:
    """A PEM file's bytes; an error naming the setting (never the contents) if it is not one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{setting}: cannot read {path} ({exc.strerror})") from None
    if b"-----BEGIN " not in data:
        raise SettingsError(f"{setting}: {path} is not a PEM file (no -----BEGIN line)")
    return data


def tls_config(settings: Settings) -> TLSConfig | None:
    """The TLS settings as the SDK takes them, or None for a plain-text connection.

    No CA file means the system's roots (right for Temporal Cloud); a server name overrides the
    name the certificate is checked against (and the SNI), for a server reached by IP or tunnel.
    """
    if not settings.temporal.temporal_uses_tls:
        return None
    ca = settings.temporal.temporal_tls_ca_file
    cert, key = settings.temporal.temporal_tls_cert_file, settings.temporal.temporal_tls_key_file
    return TLSConfig(
        server_root_ca_cert=_read_pem("KRIPTO_TEMPORAL_TLS_CA_FILE", ca) if ca else None,
        client_cert=_read_pem("KRIPTO_TEMPORAL_TLS_CERT_FILE", cert) if cert else None,
        client_private_key=_read_pem("KRIPTO_TEMPORAL_TLS_KEY_FILE", key) if key else None,
        domain=settings.temporal.temporal_tls_server_name,
    )


def data_converter(settings: Settings) -> DataConverter:
    """The pydantic data converter (with kripto.temporal.converter's tolerance of an input
    that is not JSON), so models cross as camelCase JSON; with encryption keys set,
    every payload is also sealed (kripto.temporal.codec), and failure messages and stack traces
    travel as an encrypted payload too, since an error may quote an amount. The worker, the CLI,
    `kripto dev` and the schedules all connect here, so all of them read and write alike."""
    if settings.encryption.encryption_keys is None:
        return kripto_data_converter
    from kripto.temporal.codec import EncryptionCodec, parse_keys

    keys = parse_keys(settings.encryption.encryption_keys.get_secret_value())
    return dataclasses.replace(
        kripto_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect_client(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client with Kripto's data converter (see `data_converter`). A worker passes the
    `runtime` that serves its metrics (kripto.metrics.metrics_runtime): the SDK records its own
    metrics, and hands out the meter for ours, through the client's runtime."""
    tls = tls_config(settings)
    api_key = (
        settings.temporal.temporal_api_key.get_secret_value()
        if settings.temporal.temporal_api_key
        else None
    )
    try:
        return await Client.connect(
            settings.temporal.temporal_address,
            namespace=settings.temporal.temporal_namespace,
            api_key=api_key,
            tls=tls if tls is not None else False,
            data_converter=data_converter(settings),
            runtime=runtime,
        )
    except RuntimeError as exc:
        detail = str(exc)
        if api_key:
            detail = detail.replace(api_key, "********")
        raise SettingsError(
            f"TEMPORAL_ADDRESS: cannot reach Temporal at {settings.temporal.temporal_address}"
            f" {_describe_security(settings)}: {_explain(settings, detail)} ({detail})"
            f"{_default_address_hint(settings)}"
        ) from None


def _default_address_hint(settings: Settings) -> str:
    """Outside the clone a command finds no dev.env and silently tries localhost:7233; say so."""
    if not settings.temporal.temporal_address_is_default:
        return ""
    return (
        f". No {settings.general.dev_env} was found and TEMPORAL_ADDRESS is not set, so this is the"
        " default address: run the command where `kripto dev` runs, pass --data-dir (or set"
        " KRIPTO_DATA_DIR) to its data folder, or set TEMPORAL_ADDRESS"
    )


_HANG_UPS = (
    "close_notify",
    "CertificateRequired",
    "connection closed",
    "ConnectionReset",
    "BrokenPipe",
    "broken pipe",
    "UnexpectedEof",
)


def _explain(settings: Settings, detail: str) -> str:
    """What a connection failure most likely means, in the operator's terms."""
    if not settings.temporal.temporal_uses_tls:
        if any(sign in detail for sign in _HANG_UPS):
            return (
                "the server closed the connection; if it serves TLS, set"
                " KRIPTO_TEMPORAL_TLS_CA_FILE (or KRIPTO_TEMPORAL_TLS=true)"
            )
        return "is it running (`kripto dev`, or the compose stack) and is the address right?"
    if "UnknownIssuer" in detail:
        if settings.temporal.temporal_tls_ca_file is not None:
            return (
                "the server's certificate is not signed by the CA in"
                f" KRIPTO_TEMPORAL_TLS_CA_FILE ({settings.temporal.temporal_tls_ca_file})"
            )
        return (
            "the server's certificate is not signed by a CA this system trusts; set"
            " KRIPTO_TEMPORAL_TLS_CA_FILE to the server's CA"
        )
    if "NotValidForName" in detail:
        return (
            "the server's certificate does not carry the name connected to; set"
            " KRIPTO_TEMPORAL_TLS_SERVER_NAME to a name the certificate carries"
        )
    if "Expired" in detail or "NotValidYet" in detail:
        return "the server's certificate is outside its validity period"
    # With TLS 1.3 a server that refuses the client's certificate (or its absence) hangs up
    # just after the handshake; how the hang-up shows depends on timing.
    hung_up = any(sign in detail for sign in _HANG_UPS)
    if settings.temporal.temporal_tls_cert_file is None and hung_up:
        return (
            "the server hung up after the TLS handshake; if it requires a client certificate"
            " (mTLS), set KRIPTO_TEMPORAL_TLS_CERT_FILE and KRIPTO_TEMPORAL_TLS_KEY_FILE"
        )
    if settings.temporal.temporal_tls_cert_file is not None and (
        hung_up or "certificate" in detail.lower()
    ):
        return (
            "the TLS handshake failed; is KRIPTO_TEMPORAL_TLS_CERT_FILE a certificate the"
            " server's client CA signed, and KRIPTO_TEMPORAL_TLS_KEY_FILE its key?"
        )
    return "the TLS connection failed; check the KRIPTO_TEMPORAL_TLS_* settings"


def _describe_security(settings: Settings) -> str:
    if not settings.temporal.temporal_uses_tls:
        return "in plain text"
    parts = ["over TLS"]
    if settings.temporal.temporal_tls_cert_file is not None:
        parts.append("with a client certificate")
    if settings.temporal.temporal_api_key is not None:
        parts.append("with an API key")
    return " ".join(parts)
