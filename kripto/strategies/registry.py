"""The strategies, discovered from this package: every module that sets `STRATEGY` is one.

Nothing else lists them, so adding a strategy is adding one file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache

from kripto.strategies.base import Param, Strategy

#: Modules of the package that are not strategies.
_HELPERS = frozenset({"base", "indicators", "registry", "series"})


@cache
def strategies() -> Mapping[str, type[Strategy]]:
    """Name → class, in alphabetical order of the names."""
    import kripto.strategies as package

    found: dict[str, type[Strategy]] = {}
    for module in pkgutil.iter_modules(package.__path__):
        if module.name in _HELPERS or module.name.startswith("_"):
            continue
        cls = getattr(
            importlib.import_module(f"{package.__name__}.{module.name}"), "STRATEGY", None
        )
        if cls is None:
            continue
        if cls.name in found:
            raise RuntimeError(f"two strategies are named {cls.name!r}")
        found[cls.name] = cls
    return dict(sorted(found.items()))


def strategy_names() -> tuple[str, ...]:
    return tuple(strategies())


def declaration(name: str) -> tuple[Param, ...]:
    """The declared parameters of strategy `name`; a ValueError lists the known names."""
    return strategy_class(name).parameters


def strategy_class(name: str) -> type[Strategy]:
    known = strategies()
    if name not in known:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(known)}")
    return known[name]


def build(name: str, values: Mapping[str, str | int | float]) -> Strategy:
    """The strategy from text or typed values; unnamed parameters take their defaults. A
    ValueError names the parameter and its rule (or the rule between two of them)."""
    cls = strategy_class(name)
    params = {p.name: p for p in cls.parameters}
    unknown = sorted(set(values) - set(params))
    if unknown:
        raise ValueError(
            f"{name} has no parameter {unknown[0]!r}; it takes {', '.join(params) or 'none'}"
        )
    typed = {key: params[key].parse(value) for key, value in values.items()}
    return cls(**typed)
