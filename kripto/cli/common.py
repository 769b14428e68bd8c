"""What every command shares: one console, JSON output, and running a coroutine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from kripto.db import Database
    from kripto.settings import Settings

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio  # here: a command that needs no event loop does not pay to import it

    return asyncio.run(coro)


def print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2))


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """The database, or one line saying why it cannot be reached."""
    import asyncpg  # here, not at the top: only the commands that read Postgres pay for it

    from kripto.db import connect

    url = settings.require_database_url()
    try:
        db = await connect(url, run_migrations=False)
        await db.pool.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise fail(
            f"KRIPTO_DATABASE_URL: cannot reach Postgres ({type(exc).__name__}: {exc});"
            " is `kripto dev` running?"
        ) from None
    try:
        yield db
    finally:
        await db.close()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)
