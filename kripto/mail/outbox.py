"""Receipts as `.eml` files in a folder: the `kripto dev` default, readable by any mail client.

Each receipt is `<folder>/<key>.eml`, written to a temporary file and renamed into place, so a
reader never sees half a message and a second send under the same key replaces the first
instead of adding a copy. A worker killed mid-write leaves its temporary file,
`.<key>.<random>.partial`; the next start-up sweeps those older than `PARTIAL_STALE_SECONDS`
(a write takes milliseconds, and a younger one may be another worker's, writing now).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from kripto.mail.base import RenderedEmail

log = logging.getLogger(__name__)
#: A temporary file older than this is a dead worker's half-written receipt.
PARTIAL_STALE_SECONDS = 60.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_stem(key: str) -> str:
    """The key as a file name: itself when it is plain (`trade-1`, a UUID), otherwise a cleaned
    copy plus a short hash, so `../x` or `a/b` can never leave the folder or collide."""
    cleaned = _UNSAFE.sub("_", key)[:100].lstrip(".")
    if cleaned == key and cleaned:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{cleaned}-{digest}" if cleaned else digest


class OutboxMailer:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def sweep(self, now: float | None = None) -> list[Path]:
        """Remove the stale `.<key>.<random>.partial` files a killed worker left (at start-up);
        returns what it removed. Whole receipts (`<key>.eml`) are never touched."""
        if not self.folder.is_dir():
            return []
        cutoff = (time.time() if now is None else now) - PARTIAL_STALE_SECONDS
        removed = []
        for path in self.folder.glob(".*.partial"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:  # another worker's sweep, or its write, took it
                continue
        for path in removed:
            log.info("outbox: removed %s, a receipt half-written by a stopped worker", path.name)
        return removed

    def __repr__(self) -> str:
        return f"OutboxMailer({str(self.folder)!r})"

    def path_for(self, key: str) -> Path:
        return self.folder / f"{file_stem(key)}.eml"

    async def send(self, *, to: str, sender: str, email: RenderedEmail, key: str) -> str:
        return await asyncio.to_thread(self._write, to, sender, email, key)

    def _write(self, to: str, sender: str, email: RenderedEmail, key: str) -> str:
        stem = file_stem(key)
        message = EmailMessage()
        message["Subject"] = email.subject
        message["From"] = sender
        message["To"] = to
        message["Date"] = formatdate(usegmt=True)
        message_id = make_msgid(idstring=stem, domain="kripto.local")
        message["Message-ID"] = message_id
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{stem}.eml"
        fd, partial = tempfile.mkstemp(dir=self.folder, prefix=f".{stem}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(bytes(message))
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)  # a reader never sees half a message
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return message_id
