"""Receipts through Amazon SES v2 (boto3), in a thread so the event loop never blocks.

Errors become Kripto's two kinds: throttling, 5xx and connection failures are retryable; a
rejected message, an unverified sender or a bad address is `ReceiptRejected`, and a credential
problem is `BadCredentials`. No credential ever appears in an error message or a repr: messages
are built from the error code and SES's own text, with any credential value masked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from pydantic import SecretStr

from kripto.errors import BadCredentials, KriptoError, NonRetryableError, RetryableError
from kripto.mail.base import RenderedEmail

#: Error codes that may pass on their own, whatever the HTTP status says.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "LimitExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
    }
)
#: Error codes that mean the credentials are wrong: no retry can fix them.
CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "AccessDeniedException",
        "AccessDenied",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
        "IncompleteSignature",
    }
)


class ReceiptRejected(NonRetryableError):
    """SES refused this message for good: MessageRejected (for example an unverified sender or
    recipient), a bad address, a paused or suspended account."""

    kind = "ReceiptRejected"


def _secret(value: str | SecretStr | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class SesMailer:
    """One boto3 `sesv2` client, made once; each send runs in a worker thread.

    botocore's own retries are off (one attempt per call): Temporal retries the activity, and
    every retry is one more chance of the duplicate the receipts table guards against."""

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: str | SecretStr | None = None,
        secret_access_key: str | SecretStr | None = None,
        connect_timeout: float = 5,
        read_timeout: float = 15,
    ) -> None:
        key_id, secret = _secret(access_key_id), _secret(secret_access_key)
        credentials: dict[str, Any] = {}
        if key_id and secret:
            credentials = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
        #: Values masked out of every error message (never shown, never in repr).
        self._masked = tuple(v for v in (secret, key_id) if v)
        self.region = region
        self.endpoint_url = endpoint_url
        self._client = boto3.client(
            "sesv2",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            ),
            **credentials,
        )

    def __repr__(self) -> str:
        return f"SesMailer(region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    async def send(self, *, to: str, sender: str, email: RenderedEmail, key: str) -> str:
        return await asyncio.to_thread(self._send, to, sender, email)

    def _mask(self, text: str) -> str:
        for value in self._masked:
            text = text.replace(value, "***")
        return text

    def _send(self, to: str, sender: str, email: RenderedEmail) -> str:
        try:
            reply = self._client.send_email(
                FromEmailAddress=sender,
                Destination={"ToAddresses": [to]},
                Content={
                    "Simple": {
                        "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                        "Body": {
                            "Text": {"Data": email.text, "Charset": "UTF-8"},
                            "Html": {"Data": email.html, "Charset": "UTF-8"},
                        },
                    }
                },
            )
        except (ClientError, BotoCoreError) as exc:
            failure = self._failure(exc, to)
        else:
            return str(reply["MessageId"])
        # Raised outside the `except`, so botocore's error (whose text may quote the request,
        # credentials included) is not chained to ours as its context.
        raise failure

    def _failure(self, exc: ClientError | BotoCoreError, to: str) -> KriptoError:
        if isinstance(exc, ClientError):
            return self._client_error(exc, to)
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return BadCredentials(f"SES credentials are missing: {type(exc).__name__}")
        if isinstance(exc, ParamValidationError):
            return ReceiptRejected(f"SES cannot take this receipt to {to}: bad parameters")
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
            return RetryableError("SES cannot be reached")
        if isinstance(exc, ReadTimeoutError):
            return RetryableError("SES did not answer in time (the receipt may have been accepted)")
        return RetryableError(f"SES call failed: {type(exc).__name__}")

    def _client_error(self, exc: ClientError, to: str) -> KriptoError:
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code", "Unknown"))
        status = int(meta.get("HTTPStatusCode") or 0)
        text = self._mask(f"SES refused the receipt to {to}: {code} (HTTP {status})")
        detail = self._mask(str(error.get("Message", "")).strip())
        if detail:
            text = f"{text}: {detail}"
        if code in CREDENTIAL_CODES or status in (401, 403):
            return BadCredentials(text)
        if code in RETRYABLE_CODES or status == 429 or status >= 500 or status == 0:
            return RetryableError(text, retry_after=_retry_after(meta))
        return ReceiptRejected(text)


def _retry_after(meta: dict[str, Any]) -> float | None:
    value = (meta.get("HTTPHeaders") or {}).get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
