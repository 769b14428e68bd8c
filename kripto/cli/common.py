"""What every command shares: one console, JSON output, and running a coroutine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from temporalio.runtime import Runtime

    from kripto.db import Database
    from kripto.services.connection import Connection
    from kripto.settings import Settings

#: `--data-dir` on every command that talks to the stack: the folder whose `dev.env` (written by
#: `kripto dev`) says where Temporal and Postgres are. Without it, KRIPTO_DATA_DIR, else ./.kripto.
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder `kripto dev` uses (reads its dev.env) [default: KRIPTO_DATA_DIR, .kripto].",
        show_default=False,
    ),
]

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    """The settings, with `--data-dir` (when given) choosing the dev.env to read."""
    from kripto.composition import load_settings  # here: pydantic is slow to import

    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(**overrides)


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
    from kripto.db.monitoring import ping

    url = settings.general.require_database_url()
    try:
        db = await connect(url, run_migrations=False)
        await ping(db)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise fail(
            f"KRIPTO_DATABASE_URL: cannot reach Postgres ({type(exc).__name__}: {exc});"
            " is `kripto dev` running?"
        ) from None
    try:
        yield db
    finally:
        await db.close()


async def connect(settings: Settings, runtime: Runtime | None = None) -> Connection:
    """The connection for a command, saying so when no source named the stack and the
    command fell back to the default address (it may be some other Temporal than yours)."""
    from kripto.services.connection import connect as open_connection

    client = await open_connection(settings, runtime=runtime)
    note = default_address_note(settings)
    if note:
        errors.print(f"[yellow]note:[/yellow] {note}", highlight=False, soft_wrap=True)
    return client


def default_address_note(settings: Settings) -> str | None:
    if not settings.temporal.temporal_address_is_default:
        return None
    return (
        f"reached the Temporal at the default address {settings.temporal.temporal_address}: no"
        f" {settings.general.dev_env} was found and TEMPORAL_ADDRESS is not set (--data-dir or"
        " KRIPTO_DATA_DIR name the folder of a `kripto dev` stack)"
    )


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def product_option(value: str) -> str:
    """`--product`: upper-cased (`btc-gbp` is BTC-GBP), then checked; a bad one is one line."""
    from kripto.models import check_product

    product = value.strip().upper()
    try:
        return check_product(product)
    except ValueError as exc:
        raise fail(f"--product: {exc}") from None


def unconfigured(product: str, settings: Settings) -> str | None:
    """Why a product has nothing to show, when it is not one Kripto follows; else None."""
    products = settings.general.products
    if product in products:
        return None
    return f"{product} is not one of the configured products (KRIPTO_PRODUCTS={','.join(products)})"
