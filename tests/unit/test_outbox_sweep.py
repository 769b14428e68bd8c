"""A worker killed while writing a receipt leaves `.<key>.<random>.partial` in the outbox; the
next start-up sweeps stale ones, so the folder holds only whole receipts (the receipt itself is
written again, whole, by the retried send)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from kripto.mail import mailer_from_settings
from kripto.mail.outbox import PARTIAL_STALE_SECONDS
from kripto.settings import Settings


def test_start_up_sweeps_stale_partial_files_and_keeps_receipts(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    stale = outbox / ".trade-1.k2j4h1x_.partial"
    stale.write_bytes(b"Subject: half a mess")
    old = time.time() - PARTIAL_STALE_SECONDS - 5
    os.utime(stale, (old, old))
    # Another worker sharing the folder may be writing this one right now: left alone.
    fresh = outbox / ".trade-2.a8d7f0qq.partial"
    fresh.write_bytes(b"Subject: being written")
    whole = outbox / "trade-1.eml"
    whole.write_bytes(b"Subject: a whole receipt\n\nbody\n")
    os.utime(whole, (old, old))

    mailer_from_settings(Settings(data_dir=tmp_path, mailer="outbox"))

    assert sorted(p.name for p in outbox.iterdir()) == [".trade-2.a8d7f0qq.partial", "trade-1.eml"]
    assert whole.read_bytes() == b"Subject: a whole receipt\n\nbody\n"


def test_start_up_with_no_outbox_yet_creates_nothing(tmp_path: Path) -> None:
    mailer_from_settings(Settings(data_dir=tmp_path, mailer="outbox"))
    assert not (tmp_path / "outbox").exists()
