"""`kripto live check`: the preflight before real money (kripto/preflight.py). It places no
order: each check is a line with ✓, ✗, ! or - and one sentence. Exit 0 ready, 1 something to
fix, 2 bad settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from kripto.cli.common import DataDir, fail, print_json, run, settings_for

if TYPE_CHECKING:
    from kripto.preflight import Check
    from kripto.settings import Settings

live_app = typer.Typer(help="Before real money: check the live exchange, the mailer and the phone.")


def register(app: typer.Typer) -> None:
    app.add_typer(live_app, name="live")


@live_app.command("check")
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Check the configured exchange (key, permissions, portfolio, fee tier, balances, each
    product's status and sizes, a preview of the smallest buy and sell, the clock), the mailer
    and the phone channels. Places no order."""
    settings = settings_for(data_dir)
    if settings.exchange.exchange != "coinbase":
        raise fail(
            f"KRIPTO_EXCHANGE={settings.exchange.exchange}: `kripto live check` checks the live"
            " exchange;"
            " set KRIPTO_EXCHANGE=coinbase and a CDP API key (docs/going-live.md)"
        )
    checks = run(live_checks(settings))
    from kripto.preflight import exit_code

    code = exit_code(checks)
    if as_json:
        print_json({"ready": code == 0, "checks": [c.as_json() for c in checks]})
    else:
        for c in checks:
            typer.echo(c.line)
        fixes = sum(1 for c in checks if c.status == "fail")
        typer.echo(
            "ready: nothing to fix before the first trade"
            if code == 0
            else f"not ready: {fixes} thing{'s' if fixes != 1 else ''} to fix (✗)"
        )
    raise typer.Exit(code)


async def live_checks(settings: Settings) -> list[Check]:
    from kripto.errors import KriptoError
    from kripto.exchanges.coinbase import CoinbaseExchange
    from kripto.preflight import LiveCheck, mail_check, phone_checks
    from kripto.risk import RiskSettings

    exchange: Any = None
    key_error = None
    venue, products = settings.exchange, settings.general.products
    try:
        exchange = CoinbaseExchange(
            base_url=venue.coinbase_url,
            key_name=venue.coinbase_api_key_name or "",
            private_key_pem=venue.coinbase_private_key_pem(),
            timeout=venue.http_timeout.total_seconds(),
            products=products,
        )
    except KriptoError as exc:
        key_error = str(exc)
    minimum = max(settings.risk.min_order_gbp, RiskSettings().exchange_min_gbp)
    try:
        checks = await LiveCheck(
            exchange=exchange,
            key_error=key_error,
            products=list(products),
            fees=venue.fees,
            min_order=minimum,
            max_trade=settings.risk.max_trade_gbp,
            clock_limit=settings.execution.max_clock_skew.total_seconds(),
        ).run()
    finally:
        if exchange is not None:
            await exchange.close()
    checks.append(await mail_check(settings.mail, settings.general.outbox_dir))
    checks += await phone_checks(settings.notifications)
    return checks
