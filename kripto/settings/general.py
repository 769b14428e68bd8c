"""Where Kripto keeps its state and which markets it follows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import field_validator
from pydantic_settings import NoDecode

from kripto.errors import SettingsError
from kripto.models import check_product
from kripto.settings.base import Section

DEFAULT_DATA_DIR = Path(".kripto")


def _check_database_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.match(r"^postgres(ql)?://", value):
        raise ValueError("must be a postgresql:// URL, for example postgresql://user@host:5432/db")
    return value


class GeneralSection(Section):
    """Where Kripto keeps its state and which markets it follows."""

    # Where things are.
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    #: The markets Kripto follows, comma-separated.
    products: Annotated[list[str], NoDecode] = ["BTC-GBP"]

    @field_validator("products", mode="before")
    @classmethod
    def _split_products(cls, value: object) -> object:
        if isinstance(value, str):
            value = [p.strip() for p in value.split(",") if p.strip()]
        if isinstance(value, list) and not value:
            raise ValueError("name at least one product, for example BTC-GBP")
        return value

    @field_validator("products")
    @classmethod
    def _check_products(cls, value: list[str]) -> list[str]:
        return [check_product(p) for p in value]

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return _check_database_url(value)

    @property
    def dev_env(self) -> Path:
        """Where `kripto dev` writes the addresses of the stack it runs."""
        return self.data_dir / "dev.env"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def require_database_url(self) -> str:
        if not self.database_url:
            where = "" if self.dev_env.is_file() else f" (no {self.dev_env} here)"
            raise SettingsError(
                f"KRIPTO_DATABASE_URL is not set{where}: start `kripto dev` first, pass"
                " --data-dir (or set KRIPTO_DATA_DIR) to the folder `kripto dev` uses, or point"
                " KRIPTO_DATABASE_URL at Postgres"
            )
        return self.database_url
