"""The receipt's stop link: signed, expiring, and refused with a reason when tampered with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kripto.mail.receipt import render_receipt
from kripto.models import Order, Side
from kripto.stoplinks import LIFETIME, StopLinkError, StopLinkSigner

MADE = datetime(2026, 3, 1, 12, 0, 30, 123456, tzinfo=UTC)
SIGNER = StopLinkSigner("s" * 32, "https://kripto.example/")


def token_of(url: str) -> str:
    assert url.startswith("https://kripto.example/stop/")
    return url.rsplit("/", 1)[1]


def test_a_link_is_the_same_for_the_same_trade_and_verifies_for_seven_days() -> None:
    url = SIGNER.url("trade-1", MADE)
    assert url == SIGNER.url("trade-1", MADE)  # a retried receipt carries the same link
    assert url != SIGNER.url("trade-2", MADE)
    link = SIGNER.verify(token_of(url), MADE)
    assert link.expires == datetime(2026, 3, 8, 12, 0, 30, tzinfo=UTC)
    assert SIGNER.verify(token_of(url), MADE + LIFETIME - timedelta(seconds=31)) == link


def test_an_expired_link_is_refused() -> None:
    token = token_of(SIGNER.url("trade-1", MADE))
    with pytest.raises(StopLinkError, match=r"^This stop link expired at 2026-03-08 12:00 UTC\.$"):
        SIGNER.verify(token, MADE + LIFETIME)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace(t.split(".")[1], str(int(t.split(".")[1]) + 86400)),  # longer life
        lambda t: "X" + t[1:],  # another link ID
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
    ],
)
def test_a_tampered_link_is_refused(tamper: object) -> None:
    token = token_of(SIGNER.url("trade-1", MADE))
    with pytest.raises(StopLinkError, match="signature is wrong; it was not made by Kripto"):
        SIGNER.verify(tamper(token), MADE)  # type: ignore[operator]


def test_a_link_signed_with_another_secret_is_refused() -> None:
    other = StopLinkSigner("t" * 32, "https://kripto.example")
    with pytest.raises(StopLinkError, match="signature is wrong"):
        SIGNER.verify(token_of(other.url("trade-1", MADE)), MADE)


def test_a_malformed_link_is_refused() -> None:
    with pytest.raises(StopLinkError, match=r"^This is not a stop link \(it is malformed\)\.$"):
        SIGNER.verify("nonsense", MADE)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="KRIPTO_STOP_LINK_SECRET must be at least 16"):
        StopLinkSigner("short", "http://x")


def test_the_receipt_carries_the_link_in_both_parts() -> None:
    order = Order(
        id="o-1",
        side=Side.BUY,
        product_id="BTC-GBP",
        funds=Decimal("10.00"),
        settled=True,
        created_at=MADE,
        fill_fees=Decimal("0.05"),
        filled_size=Decimal("0.00125"),
        executed_value=Decimal("9.95"),
        client_order_id="trade-1",
    )
    url = SIGNER.url("trade-1", MADE)
    email = render_receipt("trade-1", order, url)
    assert f"Stop trading (pauses every schedule; works once, for 7 days):\n{url}\n" in email.text
    assert f'<a href="{url}">Stop trading</a>' in email.html
    assert "Stop trading" not in render_receipt("trade-1", order).text


def test_a_signature_with_non_ascii_characters_is_refused_not_an_error() -> None:
    """Signatures are compared as bytes: `compare_digest` raises TypeError on a non-ASCII str,
    which the dashboard answered with a 500."""
    link_id, epoch, _ = SIGNER.token(SIGNER.link_for("trade-1", MADE)).split(".")
    with pytest.raises(StopLinkError, match="signature is wrong; it was not made by Kripto"):
        SIGNER.verify(f"{link_id}.{epoch}.é€ü", MADE)
