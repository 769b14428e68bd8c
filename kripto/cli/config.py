from __future__ import annotations

import typer
from rich.table import Table

from kripto.cli.common import console
from kripto.settings import env_files, load_settings


def register(app: typer.Typer) -> None:
    app.command("config")(config)


def config() -> None:
    """Print the effective settings, secrets masked."""
    settings = load_settings()
    table = Table("setting", "value", title="Effective settings")
    for name, value in settings.masked().items():
        table.add_row(f"KRIPTO_{name.upper()}", value)
    console.print(table)
    files = ", ".join(str(p) for p in env_files() if p.exists()) or "none"
    console.print(f"read from the environment and: {files}")
