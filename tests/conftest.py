"""Shared fixtures: a real Postgres (embedded, or the server in KRIPTO_TEST_DATABASE_URL) with a
fresh database per test, and the real Temporal servers from their pip packages."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from kripto.db import Database, connect
from kripto.devstack.postgres import EmbeddedPostgres

pytest_plugins = [
    "tests.temporal_fixtures",
    "tests.fakes.spot_server",
    "tests.fakes.coinbase_fixtures",
    "tests.trading_fixtures",
    "tests.sample_fixtures",
    "tests.fakes.ses_fixtures",
    "tests.fakes.telegram_server",
    "tests.e2e.browser",
]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture
def outside_tmp_path() -> Iterator[Path]:
    """A temporary folder outside pytest's /tmp/pytest-of-<user>, for an embedded Postgres of
    the test's own. Run as root, that server runs as another user, who must pass through every
    folder above its data; pytest makes /tmp/pytest-of-<user> 0700 again whenever any session
    starts (another checkout's, a parallel run's), which can happen between opening it and
    initdb, or before a restart. (The session's own server already lives in such a folder.)"""
    folder = Path(tempfile.mkdtemp(prefix="kripto-test-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A Postgres server for the session: KRIPTO_TEST_DATABASE_URL, or an embedded one."""
    external = os.environ.get("KRIPTO_TEST_DATABASE_URL")
    if external:
        yield external
        return
    folder = Path(tempfile.mkdtemp(prefix="kripto-pg-"))
    pg = EmbeddedPostgres(folder / "data")
    try:
        yield pg.start()
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server, dropped afterwards."""
    name = f"kripto_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(server_url, name)
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A new, empty database for one test, dropped afterwards."""
    async with fresh_database(pg_server_url) as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database and its pool."""
    database = await connect(database_url)
    try:
        yield database
    finally:
        await database.close()
