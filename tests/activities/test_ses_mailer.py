"""The SES mailer over HTTP: moto's SES for sending, and a loopback SES look-alike for the faults
moto cannot give. boto3 is not patched."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
from pydantic import SecretStr

from kripto.errors import BadCredentials, KriptoError, RetryableError
from kripto.mail import SesMailer, mailer_from_settings
from kripto.mail.receipt import render_receipt
from kripto.mail.ses import ReceiptRejected
from kripto.settings import Settings
from tests.fakes.ses_fixtures import FAULTS_DOMAIN, SES_SENDER, SesFaults
from tests.unit.test_receipt_render import SEED

KEY_ID = "AKIATESTKEYID0000042"
SECRET = "ses-test-secret-do-not-log"
SENDER = SES_SENDER


def mailer(url: str, **options: float) -> SesMailer:
    return SesMailer(
        region="eu-west-2",
        endpoint_url=url,
        access_key_id=KEY_ID,
        secret_access_key=SecretStr(SECRET),
        **options,
    )


def sent_messages(url: str) -> list[dict[str, object]]:
    messages: list[dict[str, object]] = httpx.get(f"{url}/moto-api/data.json").json()["ses"][
        "Message"
    ]
    return messages


def assert_no_credentials(exc: BaseException) -> None:
    """Neither the error nor anything chained to it names a credential."""
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen)):
            assert SECRET not in text
            assert KEY_ID not in text
        seen = seen.__cause__ or seen.__context__


async def send(m: SesMailer, to: str, key: str = "trade-x") -> str:
    return await m.send(to=to, sender=SENDER, email=render_receipt(key, SEED), key=key)


async def test_a_receipt_goes_through_ses(ses_verified: str) -> None:
    message_id = await send(mailer(ses_verified), "trader@example.com", key="trade-ses")
    [message] = [m for m in sent_messages(ses_verified) if m["id"] == message_id]
    assert message["subject"] == "Kripto Trade Receipt"
    assert message["source"] == SENDER
    assert message["destinations"] == {"ToAddresses": ["trader@example.com"]}
    body = str(message["body"])  # moto keeps the HTML part
    assert "<td>BUY BTC-GBP</td>" in body
    assert "<td>£7,900.01 per BTC</td>" in body
    assert "<td>-£10.00</td>" in body
    assert "<td>+0.00125952 BTC</td>" in body
    assert "<td>trade-ses</td>" in body


async def test_settings_choose_ses(ses_verified: str) -> None:
    settings = Settings(
        mailer="ses",
        ses_region="eu-west-2",
        ses_endpoint_url=ses_verified,
        aws_access_key_id=SecretStr(KEY_ID),
        aws_secret_access_key=SecretStr(SECRET),
    )
    chosen = mailer_from_settings(settings)
    assert isinstance(chosen, SesMailer)
    message_id = await send(chosen, "settings@example.com")
    assert message_id in {m["id"] for m in sent_messages(ses_verified)}
    assert SECRET not in repr(chosen) and KEY_ID not in repr(chosen)


async def test_an_unverified_sender_is_rejected(ses_server: str) -> None:
    # moto answers 400 MessageRejected "Email address not verified …", as SES does.
    m = mailer(ses_server)
    with pytest.raises(ReceiptRejected) as caught:
        await m.send(
            to="trader@example.com",
            sender="stranger@unverified.example",
            email=render_receipt("trade-x", SEED),
            key="trade-x",
        )
    assert "MessageRejected" in str(caught.value)
    assert "not verified" in str(caught.value)
    assert caught.value.kind == "ReceiptRejected"
    assert_no_credentials(caught.value)
    assert SECRET not in repr(m) and KEY_ID not in repr(m)


async def test_a_malformed_address_is_rejected(ses_verified: str) -> None:
    # moto answers 400 InvalidParameterValue "Missing domain".
    with pytest.raises(ReceiptRejected) as caught:
        await send(mailer(ses_verified), "not-an-address")
    assert "InvalidParameterValue" in str(caught.value)
    assert_no_credentials(caught.value)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "TooManyRequestsException"),
        (500, "InternalFailure"),
        (503, "ServiceUnavailable"),
        (400, "ThrottlingException"),
    ],
)
async def test_throttling_and_server_errors_are_retryable(
    ses_faults: SesFaults, status: int, code: str
) -> None:
    ses_faults.recipients.clear()
    to = f"status-{status}-{code}@{FAULTS_DOMAIN}"
    with pytest.raises(RetryableError) as caught:
        await send(mailer(ses_faults.url), to)
    assert code in str(caught.value)
    assert ses_faults.recipients == [to]  # one attempt: botocore does not retry on its own
    assert caught.value.retry_after == (7.0 if status == 429 else None)
    assert_no_credentials(caught.value)


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "MessageRejected", ReceiptRejected),
        (400, "MailFromDomainNotVerifiedException", ReceiptRejected),
        (400, "BadRequestException", ReceiptRejected),
        (403, "InvalidClientTokenId", BadCredentials),
        (403, "SignatureDoesNotMatch", BadCredentials),
    ],
)
async def test_final_refusals_are_not_retryable(
    ses_faults: SesFaults, status: int, code: str, error: type[KriptoError]
) -> None:
    with pytest.raises(error) as caught:
        await send(mailer(ses_faults.url), f"status-{status}-{code}@{FAULTS_DOMAIN}")
    assert not isinstance(caught.value, RetryableError)
    assert code in str(caught.value)
    assert_no_credentials(caught.value)


async def test_a_server_that_echoes_the_request_leaks_no_credential(
    ses_faults: SesFaults,
) -> None:
    with pytest.raises(ReceiptRejected) as caught:
        await send(mailer(ses_faults.url), f"echo@{FAULTS_DOMAIN}")
    assert "Credential=***/" in str(caught.value)  # the key ID was in the echo, now masked
    assert_no_credentials(caught.value)


async def test_a_slow_reply_is_retryable_and_says_it_may_have_gone(ses_faults: SesFaults) -> None:
    started = time.monotonic()
    with pytest.raises(RetryableError, match="may have been accepted") as caught:
        await send(mailer(ses_faults.url, read_timeout=0.3), f"slow@{FAULTS_DOMAIN}")
    assert time.monotonic() - started < ses_faults.slow_seconds
    assert_no_credentials(caught.value)


async def test_an_unreachable_ses_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens
    with pytest.raises(RetryableError, match="cannot be reached") as caught:
        await send(mailer(f"http://127.0.0.1:{port}"), "trader@example.com")
    assert_no_credentials(caught.value)


async def test_the_event_loop_keeps_running_during_a_send(ses_faults: SesFaults) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(RetryableError):
            await send(mailer(ses_faults.url, read_timeout=0.5), f"slow@{FAULTS_DOMAIN}")
    finally:
        ticker.cancel()
    assert ticks >= 5
