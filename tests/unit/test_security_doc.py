"""docs/security.md is held to the code: every test it names exists, and its figures are the
code's own."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from kripto.dashboard.security import BACKOFF_FIRST, BACKOFF_MAX, MAX_BODY, MIN_TOKEN_LENGTH
from kripto.devstack.temporal import HTTP_API_OFF
from kripto.devstack.ui_proxy import UI_HOSTS
from kripto.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "security.md").read_text()


def test_every_test_the_page_names_exists() -> None:
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", DOC)
    assert len(named) >= 20
    for path, name in named:
        source = (ROOT / path).read_text()
        if name:
            assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), (path, name)


def test_the_pages_figures_are_the_codes() -> None:
    defaults = Settings()
    assert MAX_BODY == 8 * 1024 and "over 8 KiB are refused with 413" in DOC
    assert (BACKOFF_FIRST, BACKOFF_MAX) == (2.0, 300.0)
    assert "for 2 seconds, doubling with each wrong\n  token in a row up to 300 seconds" in DOC
    assert MIN_TOKEN_LENGTH == 32 and "must be at least 32 characters" in DOC
    assert defaults.notifications.telegram_confirm_ttl == timedelta(minutes=5)
    assert "`KRIPTO_TELEGRAM_CONFIRM_TTL` (5 minutes)" in DOC
    assert defaults.dashboard.dashboard_session_idle == timedelta(minutes=30)
    assert "`KRIPTO_DASHBOARD_SESSION_IDLE` (30\n  minutes)" in DOC
    assert defaults.dashboard.dashboard_forwarded_allow_ips is None
    assert HTTP_API_OFF[1] == 'frontend.httpAllowedHosts=["kripto-http-api-off.invalid"]'
    assert "`frontend.httpAllowedHosts`" in DOC and "(`kripto-http-api-off.invalid`)" in DOC
    assert UI_HOSTS == ["127.0.0.1", "localhost", "[::1]"]


def test_the_readme_links_to_the_page() -> None:
    assert "[docs/security.md](docs/security.md)" in (ROOT / "README.md").read_text()
