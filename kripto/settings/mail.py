"""Trade receipts: where they go and how they are sent."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr

from kripto.settings.base import Section


class MailSection(Section):
    """Trade receipts: where they go and how they are sent."""

    mailer: Literal["outbox", "ses"] = "outbox"
    receipt_to: str = "trader@example.com"
    receipt_from: str = "kripto@example.com"
    ses_region: str = "eu-west-2"
    ses_endpoint_url: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
