"""Receipts: rendering (jinja2) and sending (SES through boto3, or `.eml` files in an outbox)."""

from __future__ import annotations

from kripto.mail.base import Mailer, RenderedEmail
from kripto.mail.outbox import OutboxMailer
from kripto.mail.ses import ReceiptRejected, SesMailer
from kripto.settings import Settings


def mailer_from_settings(settings: Settings) -> Mailer:
    """SES when `KRIPTO_MAILER=ses`, else `.eml` files in `<data dir>/outbox` (its stale
    half-written files swept away: this runs as a worker starts)."""
    if settings.mail.mailer == "ses":
        return SesMailer(
            region=settings.mail.ses_region,
            endpoint_url=settings.mail.ses_endpoint_url,
            access_key_id=settings.mail.aws_access_key_id,
            secret_access_key=settings.mail.aws_secret_access_key,
        )
    outbox = OutboxMailer(settings.general.outbox_dir)
    outbox.sweep()
    return outbox


__all__ = [
    "Mailer",
    "OutboxMailer",
    "ReceiptRejected",
    "RenderedEmail",
    "SesMailer",
    "mailer_from_settings",
]
