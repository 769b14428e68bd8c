"""`kripto config`: the effective settings by section, secrets masked, and where they were read
from."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from kripto.cli.common import DataDir, console, print_json, settings_for
from kripto.settings import LEGACY_STRATEGY_PARAMS, SECTION_OF, Settings, env_files


def register(app: typer.Typer) -> None:
    app.command("config")(config)


def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print the effective settings, secrets masked."""
    settings = settings_for(data_dir)
    rows = config_rows(settings)
    files = [str(p) for p in env_files(settings.general.data_dir) if p.exists()]
    if as_json:
        sections: dict[str, dict[str, str]] = {}
        for name, value, _ in rows:
            sections.setdefault(section_of(name), {})[name] = value
        print_json(
            {"settings": dict((n, v) for n, v, _ in rows), "sections": sections, "files": files}
        )
        return
    console.print(config_table(rows), soft_wrap=False)
    console.print(f"read from the environment and: {', '.join(files) or 'none'}", highlight=False)


def config_rows(settings: Settings) -> list[tuple[str, str, str]]:
    """(setting, value, note) for each setting: lists as `a, b`, and the schedule setting that
    does not apply (KRIPTO_SCHEDULE_EVERY wins over KRIPTO_SCHEDULE_CRON) marked unused."""
    rows = []
    every = settings.temporal.schedule_every is not None
    for name, value in settings.masked(join=", ").items():
        note = ""
        if name == "schedule_cron":
            note = "unused: KRIPTO_SCHEDULE_EVERY is set" if every else "applies"
        elif name == "schedule_every":
            note = "applies" if every else "unused: the cron applies"
        elif name == "strategy_params":
            value, note = _strategy_params(settings)
        elif name == "max_slippage" and not value:
            value, note = "off", "the taker fallback is a market order"
        elif name in LEGACY_STRATEGY_PARAMS and not value:
            continue  # an older alias, unset: KRIPTO_STRATEGY_PARAMS shows the value in use
        current = getattr(getattr(settings, SECTION_OF[name]), name, None)
        if isinstance(current, timedelta):
            value = format_duration(current)
        rows.append((f"KRIPTO_{name.upper()}", value, note))
    return rows


_UNITS = (("d", 86400_000), ("h", 3600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def format_duration(value: timedelta) -> str:
    """A duration as the settings are written (`30s`, `1d`, `10m`, `1500ms`): the largest unit
    that holds it whole, so it reads back as itself."""
    millis = round(value.total_seconds() * 1000)
    for unit, size in _UNITS:
        if millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


def _strategy_params(settings: Settings) -> tuple[str, str]:
    """Every parameter of the configured strategy with the value it runs with, defaults
    included, from the strategy's own declaration (load_settings has checked them)."""
    from kripto.composition import strategy_from_settings

    params = strategy_from_settings(settings.strategy).params()
    return ",".join(f"{k}={v}" for k, v in params.items()), "in use, defaults included"


def section_of(setting: str) -> str:
    """The section of a row's setting (`KRIPTO_MAX_TRADE_GBP` is in `risk`)."""
    return SECTION_OF[setting.removeprefix("KRIPTO_").lower()]


def config_table(rows: list[tuple[str, str, str]]) -> Table:
    """One block per section, titled with its name. Long values (a database URL) fold onto
    the next line rather than end in "…"."""
    table = Table(title="Effective settings", title_justify="left")
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    current = None
    for name, value, note in rows:
        if section_of(name) != current:
            if current is not None:
                table.add_section()
            current = section_of(name)
            table.add_row(f"[bold]{current}[/bold]", "")
        shown = value if not note else f"{value} [dim]({note})[/dim]"
        if note.startswith("unused"):
            shown = f"[dim]{value or 'unset'} ({note})[/dim]"
        table.add_row(name, shown)
    return table
