"""What every section shares: the model's configuration, `KRIPTO_X=` meaning unset, and
durations written as `5s`, `1m` or `2h`."""

from __future__ import annotations

import re
import types
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationInfo, field_validator

_DURATION = re.compile(r"^\s*(-?\d+)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: object) -> timedelta:
    """Accept `5s`, `1m`, `2h`, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = timedelta(seconds=value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        result = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        result = timedelta(seconds=int(value))
    else:
        raise ValueError(f"{value!r} is not a duration such as 5s, 1m or 2h")
    if result <= timedelta(0):
        raise ValueError("must be a positive duration")
    return result


def _allows(annotation: Any, kind: type) -> bool:
    if annotation is kind:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_allows(a, kind) for a in typing.get_args(annotation))
    return False


class Section(BaseModel):
    """One section of the settings: a small model with its fields' defaults and its own
    validators. Field names are the environment names less `KRIPTO_` (`max_trade_gbp` is
    KRIPTO_MAX_TRADE_GBP), so every existing .env keeps working."""

    #: Optional settings for which an empty value is a mistake to name, not "unset".
    blank_is_not_unset: ClassVar[frozenset[str]] = frozenset()

    model_config = ConfigDict(
        validate_default=True,
        extra="forbid",
        # A ValidationError's text would otherwise quote the inputs, secrets included.
        hide_input_in_errors=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object, info: ValidationInfo) -> object:
        """`KRIPTO_X=` (as in a copied `.env.example`) means unset, not an empty path or key,
        for a setting that may be unset; an empty duration is unset too."""
        field = cls.model_fields[info.field_name or ""]
        if _allows(field.annotation, type(None)) and info.field_name not in cls.blank_is_not_unset:
            blank = isinstance(value, SecretStr) and not value.get_secret_value().strip()
            if blank or (isinstance(value, str) and not value.strip()):
                return None
        if _allows(field.annotation, timedelta) and value is not None:
            return parse_duration(value)
        return value


def read_secret_file(setting: str, path: Path) -> str:
    """A secret file's text; an error naming the setting (never the contents)."""
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise ValueError(f"{setting}: cannot read {path} ({why})") from None
