"""`kripto history`: backfill Coinbase's one-minute candles, and import or export CSV.

`backfill` starts (or re-attaches to) a BackfillWorkflow and shows its progress from the
workflow's `progress` query. Ctrl-C only stops watching: the backfill runs on in the worker,
and the same command again picks the bar up where it is."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kripto.cli.common import (
    DataDir,
    connect,
    console,
    errors,
    fail,
    open_database,
    product_option,
    run,
    settings_for,
)
from kripto.flows.backfill import BackfillInput, BackfillProgress
from kripto.models import DEFAULT_PRODUCT, Rate
from kripto.settings import Settings

if TYPE_CHECKING:
    from kripto.services.backfill import Backfill

history_app = typer.Typer(
    help="Price history: backfill, import and export CSV, and the real sample."
)
Product = Annotated[str, typer.Option("--product", help="The product, for example BTC-GBP.")]
Csv = Annotated[Path, typer.Option("--csv", help="The CSV file (a `time,price` header).")]


def register(app: typer.Typer) -> None:
    app.add_typer(history_app, name="history")


def _product(value: str) -> str:
    return product_option(value)


@history_app.command("backfill")
def backfill(
    product: Product = DEFAULT_PRODUCT,
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="How far back.")] = 7,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Stop the product's running backfills instead.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Store the last DAYS of one-minute closes from Coinbase's public candles (durable: it
    runs in the worker; Ctrl-C leaves it running and the same command re-attaches). While
    Coinbase cannot be reached it says why and when it tries again; --cancel stops it."""
    settings = settings_for(data_dir)
    if cancel:
        run(_cancel(settings, _product(product)))
        return
    try:
        run(_backfill(settings, _product(product), days))
    except KeyboardInterrupt:
        console.print(
            "stopped watching; the backfill keeps running in the worker."
            " Run the same command again to see it."
        )


async def _backfill(settings: Settings, product: str, days: int) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from kripto.runtime.backfill import backfill_span
    from kripto.services import backfill

    start, end = backfill_span(days)
    client = await connect(settings)
    handle = await backfill.start(
        client, settings, BackfillInput(product_id=product, start=start, end=end)
    )
    console.print(
        f"{handle.id}: {product} from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        " (runs in the worker: `kripto dev` or `kripto worker`)"
    )
    total = int((end - start).total_seconds() // 60)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("backfill", total=total, detail="")
        result = asyncio.ensure_future(backfill.finished(handle))
        said = ""
        while not result.done():
            progress = await _query(handle)
            retrying = await _retrying(handle)
            if retrying and retrying != said:
                bar.console.print(retrying, highlight=False, soft_wrap=True)
            said = retrying
            if progress is not None:
                detail = f"{progress.pages_done} pages, {progress.minutes_stored:,} minutes"
                bar.update(
                    task,
                    completed=progress.minutes_done,
                    detail=f"{detail}; {retrying}" if retrying else detail,
                )
            await asyncio.wait({result}, timeout=0.5)
        try:
            done = result.result()
        except backfill.BackfillCancelled as exc:
            raise fail(str(exc)) from None
        bar.update(task, completed=total, detail=f"{done.pages_done} pages")
    console.print(
        f"done: {done.minutes_stored:,} of {done.total_minutes:,} minutes had a candle and are"
        f" stored ({done.pages_done} pages); minutes without trades stay gaps"
    )


async def _retrying(handle: Backfill) -> str:
    """Why the backfill is waiting: the last error and the next try (`""` while nothing is
    failing). Offline, this is what the bar would otherwise hide."""
    from kripto.services.backfill import retrying

    found = await retrying(handle)
    return "" if found is None else retry_note(found.attempt, found.error, found.next_try)


def retry_note(attempt: int, error: str, next_try: datetime | None) -> str:
    """`attempt 3 failed: <error>; next try at 20:51:07 UTC`, the error cut to one line."""
    first_line = " ".join(error.split())
    if len(first_line) > 160:
        first_line = first_line[:159] + "…"
    when = f"next try at {next_try:%H:%M:%S} UTC" if next_try else "trying again now"
    return f"attempt {attempt - 1} failed: {first_line}; {when}"


async def _cancel(settings: Settings, product: str) -> None:
    """Cancel every running backfill of `product` (its IDs start `backfill-<product>-`)."""
    from kripto.services.backfill import cancel_running

    cancelled = await cancel_running(await connect(settings), product)
    if not cancelled:
        console.print(f"no backfill of {product} is running", highlight=False)
    for workflow_id in cancelled:
        console.print(f"cancelled {workflow_id}; the minutes it stored stay", highlight=False)


async def _query(handle: Backfill) -> BackfillProgress | None:
    from kripto.services.backfill import progress

    return await progress(handle)


@history_app.command("import")
def import_csv(csv: Csv, product: Product = DEFAULT_PRODUCT, data_dir: DataDir = None) -> None:
    """Store the rates in a CSV file (marked `csv`); a minute that already has a rate keeps it.
    A bad row stops the import, naming its line, and nothing is stored."""
    from kripto.backtest.csvfile import CsvError
    from kripto.history import read_rates_csv

    product = _product(product)
    try:
        rates = read_rates_csv(csv, product)
    except CsvError as exc:
        raise fail(str(exc)) from None
    stored = run(_import(settings_for(data_dir), rates))
    console.print(
        f"imported {csv}: {len(rates):,} rows, {stored:,} new rates for {product}"
        f"; {len(rates) - stored:,} kept as they were (those minutes already had a rate)"
    )


async def _import(settings: Settings, rates: list[Rate]) -> int:
    from kripto.history import import_rates

    async with open_database(settings) as db:
        return await import_rates(db, rates)


@history_app.command("export")
def export_csv(
    csv: Csv,
    product: Product = DEFAULT_PRODUCT,
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="Only the last DAYS [default: all].")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Write the stored rates as CSV in the backtester's format (`kripto backtest --csv`)."""
    product = _product(product)
    start = None if days is None else datetime.now(UTC) - timedelta(days=days)
    count = run(_export(settings_for(data_dir), csv, product, start))
    console.print(f"exported {count:,} rates for {product} to {csv}")


async def _export(settings: Settings, path: Path, product: str, start: datetime | None) -> int:
    from kripto.history import export_rates

    async with open_database(settings) as db:
        return await export_rates(db, path, product, start)


@history_app.command("sample")
def sample(
    name: Annotated[
        str,
        typer.Argument(help="Which real series (--list names them).", show_default=True),
    ] = "coinbase-btcusd-1h",
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write the converted series here.")
    ] = None,
    import_to: Annotated[
        str | None,
        typer.Option("--import", help="Store it as this product's rates (e.g. BTC-USD)."),
    ] = None,
    list_them: Annotated[
        bool, typer.Option("--list", help="Name every real series, and stop.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Fetch a real series (by default the Coinbase BTC-USD hourly sample, 2017-07 to 2019-10)
    with pip, check its SHA-256, and write it as `time,price` (--csv) or store it (--import
    PRODUCT). --list names them all; `kripto backtest --sample NAME` and `kripto optimize
    --sample NAME` take any of them."""
    import shutil

    from kripto.sample import DEFAULT, SERIES, SampleError, series, series_csv

    if list_them:
        for chosen in SERIES.values():
            mark = " (--sample alone)" if chosen.name == DEFAULT else ""
            console.print(
                f"{chosen.name}{mark}: {chosen.attribution}", highlight=False, soft_wrap=True
            )
        return
    settings = settings_for(data_dir)
    try:
        path = series_csv(series(name).name, settings.general.data_dir / "samples")
    except SampleError as exc:
        raise fail(str(exc)) from None
    errors.print(series(name).attribution, highlight=False, soft_wrap=True)
    if csv is not None:
        shutil.copyfile(path, csv)
        console.print(f"wrote {csv} (time,price, closes in USD)")
    if import_to is not None:
        import_csv(path, _product(import_to), data_dir)
    if csv is None and import_to is None:
        console.print(f"cached at {path}; --csv FILE writes it, --import PRODUCT stores it")
