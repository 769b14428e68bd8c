"""At most one receipt per trade, against a real Postgres and the outbox mailer."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from kripto.db import Database
from kripto.errors import RetryableError
from kripto.mail import OutboxMailer, RenderedEmail, mailer_from_settings
from kripto.mail.receipt import render_receipt
from kripto.receipts import ReceiptService
from kripto.settings import Settings
from tests.unit.test_receipt_render import SEED

TO, FROM = "me@example.com", "k@example.com"


class FlakyMailer(OutboxMailer):
    """A mail provider that is down for its first call, then delivers to the outbox."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.calls = 0

    async def send(self, *, to: str, sender: str, email: RenderedEmail, key: str) -> str:
        self.calls += 1
        if self.calls == 1:
            raise RetryableError("mail provider unavailable")
        return await super().send(to=to, sender=sender, email=email, key=key)


class SlowMailer(OutboxMailer):
    """A mail provider that takes a moment to accept each message, and counts them."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.calls = 0

    async def send(self, *, to: str, sender: str, email: RenderedEmail, key: str) -> str:
        self.calls += 1
        await asyncio.sleep(0.3)
        return await super().send(to=to, sender=sender, email=email, key=key)


async def rows(db: Database) -> list[tuple[str, str, int]]:
    found = await db.pool.fetch("SELECT trade_id, status, attempts FROM receipts")
    return [(r["trade_id"], r["status"], r["attempts"]) for r in found]


def read_eml(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_a_receipt_is_sent_once_per_trade(db: Database, tmp_path: Path) -> None:
    service = ReceiptService(db, OutboxMailer(tmp_path), to=TO, sender=FROM)
    first = await service.send_once("trade-1", SEED)
    second = await service.send_once("trade-1", SEED)
    assert (first.sent_now, second.sent_now) == (True, False)
    assert first.message_id is not None
    assert first.message_id == second.message_id
    assert [p.name for p in tmp_path.iterdir()] == ["trade-1.eml"]
    message = read_eml(tmp_path / "trade-1.eml")
    assert message["Subject"] == "Kripto Trade Receipt"
    assert message["To"] == TO
    assert message["From"] == FROM
    assert message["Message-ID"] == first.message_id
    assert message["Date"] is not None
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    email = render_receipt("trade-1", SEED)
    assert text.get_content() == email.text
    assert html.get_content() == email.html
    row = await db.pool.fetchrow("SELECT * FROM receipts WHERE trade_id = 'trade-1'")
    assert (row["status"], row["recipient"], row["attempts"]) == ("sent", TO, 1)
    assert row["message_id"] == first.message_id
    assert row["sent_at"] is not None and row["created_at"] <= row["sent_at"]


async def test_a_failed_send_is_retried_until_one_goes_out(db: Database, tmp_path: Path) -> None:
    mailer = FlakyMailer(tmp_path)
    service = ReceiptService(db, mailer, to=TO, sender=FROM)
    with pytest.raises(RetryableError):
        await service.send_once("trade-2", SEED)
    assert await rows(db) == [("trade-2", "sending", 1)]
    assert list(tmp_path.glob("*.eml")) == []
    assert (await service.send_once("trade-2", SEED)).sent_now is True
    assert (await service.send_once("trade-2", SEED)).sent_now is False
    assert await rows(db) == [("trade-2", "sent", 2)]
    assert mailer.calls == 2
    assert len(list(tmp_path.glob("*.eml"))) == 1


async def test_overlapping_attempts_send_one_receipt(db: Database, tmp_path: Path) -> None:
    """An activity attempt that timed out may still be running when its retry starts."""
    mailer = SlowMailer(tmp_path)
    service = ReceiptService(db, mailer, to=TO, sender=FROM)
    results = await asyncio.gather(*(service.send_once("trade-3", SEED) for _ in range(3)))
    assert sorted(r.sent_now for r in results) == [False, False, True]
    assert len({r.message_id for r in results}) == 1
    assert mailer.calls == 1
    assert await rows(db) == [("trade-3", "sent", 1)]


async def test_receipts_for_different_trades_are_independent(db: Database, tmp_path: Path) -> None:
    service = ReceiptService(db, OutboxMailer(tmp_path), to=TO, sender=FROM)
    a = await service.send_once("trade-a", SEED)
    b = await service.send_once("trade-b", SEED)
    assert a.sent_now and b.sent_now and a.message_id != b.message_id
    assert sorted(p.name for p in tmp_path.glob("*.eml")) == ["trade-a.eml", "trade-b.eml"]


async def test_an_odd_key_stays_inside_the_outbox(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    mailer = OutboxMailer(outbox)
    for key in ("../escape", "a/b", ".hidden", "with space"):
        await mailer.send(to=TO, sender=FROM, email=render_receipt(key, SEED), key=key)
    names = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert len(names) == 4
    assert all(p.parent == outbox for p in tmp_path.rglob("*") if p.is_file())
    assert all(n.endswith(".eml") and not n.startswith(".") for n in names)
    assert mailer.path_for("a/b") != mailer.path_for("a_b")
    assert mailer.path_for("trade-1") == outbox / "trade-1.eml"


def test_the_outbox_is_the_default_mailer(tmp_path: Path) -> None:
    mailer = mailer_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(mailer, OutboxMailer)
    assert mailer.folder == tmp_path / "outbox"
