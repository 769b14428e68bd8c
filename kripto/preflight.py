"""`kripto live check`: a preflight of the live exchange and the channels a trader relies on,
before the first real order. It places no order and changes nothing.

Each check is one line of a checklist: ✓ (ready), ✗ (something to fix), ! (works, but read the
warning) or - (skipped: not configured, or it needs a check above that failed). Coinbase's
Advanced Trade API is read as its reference documents it: Get API Key Permissions
(`GET /key_permissions`), List Portfolios (`GET /portfolios`), the transaction summary's fee tier
(`GET /transaction_summary`), List Accounts, Get Product (status flags, sizes, increments),
Preview Order (`POST /orders/preview`, which places nothing) and Get Server Time (`GET /time`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kripto.errors import KriptoError
from kripto.fees import FeeTier
from kripto.models import Side, currencies
from kripto.money import CURRENCY_SYMBOLS, fmt_money, fmt_size

if TYPE_CHECKING:
    from kripto.settings import MailSection, NotificationsSection

Status = Literal["ok", "fail", "warn", "skip"]
MARKS: dict[Status, str] = {"ok": "✓", "fail": "✗", "warn": "!", "skip": "-"}
#: Coinbase refuses a JWT that is not yet valid (`nbf`) or expired (120 s): a clock this far off
#: is already close to having every signed request refused.
CLOCK_SKEW_LIMIT = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str

    @property
    def line(self) -> str:
        return f"{MARKS[self.status]} {self.name}: {self.message}"

    def as_json(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "message": self.message}


def exit_code(checks: list[Check]) -> int:
    """0 ready, 1 something to fix."""
    return 1 if any(c.status == "fail" for c in checks) else 0


def _d(value: object, default: str = "0") -> Decimal:
    try:
        result = Decimal(str(value if value not in (None, "") else default))
    except InvalidOperation:
        return Decimal(default)
    return result if result.is_finite() else Decimal(default)


def _money(value: Decimal, currency: str) -> str:
    """GBP to the penny, coins to their 8 places (as every other command shows them)."""
    if currency in CURRENCY_SYMBOLS:
        return fmt_money(value, currency)
    return fmt_size(value, currency)


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


@dataclass
class LiveCheck:
    """The checks, in the order a person would fix them. `exchange` is a CoinbaseExchange (its
    constructor may already have refused the key: `key_error`)."""

    exchange: Any
    key_error: str | None
    products: list[str]
    fees: FeeTier
    min_order: Decimal
    max_trade: Decimal
    clock: Callable[[], float] = time.time
    #: KRIPTO_MAX_CLOCK_SKEW, in seconds.
    clock_limit: float = CLOCK_SKEW_LIMIT

    async def run(self) -> list[Check]:
        checks = [await self._key()]
        if checks[0].status != "ok":
            needs = "needs a key Coinbase accepts (see the key line)"
            for name in ("permissions", "portfolio", "fee tier", "balances"):
                checks.append(Check(name, "skip", f"not checked: {needs}."))
            for product in self.products:
                checks.append(Check(product, "skip", f"not checked: {needs}."))
                checks.append(Check(f"{product} preview", "skip", f"not checked: {needs}."))
            checks.append(await self._clock())
            return checks
        permissions = await self._guard("permissions", self._permissions)
        checks.append(permissions[0])
        checks.append((await self._guard("portfolio", lambda: self._portfolio(permissions[1])))[0])
        checks.append((await self._guard("fee tier", self._fee_tier))[0])
        checks.append((await self._guard("balances", self._balances))[0])
        for product in self.products:
            status, details = await self._guard(product, partial(self._product, product))
            checks.append(status)
            preview = partial(self._preview, product, details)
            checks.append((await self._guard(f"{product} preview", preview))[0])
        checks.append(await self._clock())
        return checks

    async def _guard(
        self, name: str, check: Callable[[], Awaitable[tuple[Check, Any]]]
    ) -> tuple[Check, Any]:
        try:
            return await check()
        except KriptoError as exc:
            return Check(name, "fail", f"{exc}."), None

    # -- the key ---------------------------------------------------------------------------

    async def _key(self) -> Check:
        if self.key_error is not None:
            return Check("key", "fail", f"{self.key_error}.")
        signer = self.exchange._signer
        from kripto.exchanges.coinbase_auth import mask_key_name

        name = f"{mask_key_name(signer.key_name)} ({signer.algorithm})"
        try:
            await self.exchange.key_permissions()
        except KriptoError as exc:
            return Check("key", "fail", f"{name} loads, but a signed request failed: {exc}.")
        return Check("key", "ok", f"{name} loads, and Coinbase accepted a signed request.")

    async def _permissions(self) -> tuple[Check, dict[str, Any]]:
        p = await self.exchange.key_permissions()
        view, trade, transfer = (bool(p.get(k)) for k in ("can_view", "can_trade", "can_transfer"))
        missing = [name for name, allowed in (("view", view), ("trade", trade)) if not allowed]
        if missing:
            return (
                Check(
                    "permissions",
                    "fail",
                    f"the key may not {' or '.join(missing)}: Kripto needs view and trade;"
                    " make a key with both in the Coinbase Developer Platform.",
                ),
                p,
            )
        if transfer:
            return (
                Check(
                    "permissions",
                    "warn",
                    "view and trade allowed, and transfer too: a trading bot's key should not"
                    " be able to move money out; make a key with view and trade only.",
                ),
                p,
            )
        return Check("permissions", "ok", "view and trade allowed; transfer is not."), p

    async def _portfolio(self, permissions: dict[str, Any] | None) -> tuple[Check, None]:
        if not permissions:
            return Check("portfolio", "skip", "not checked: the permissions were not read."), None
        uuid = str(permissions.get("portfolio_uuid") or "")
        kind = str(permissions.get("portfolio_type") or "?")
        found = [p for p in await self.exchange.portfolios() if p.get("uuid") == uuid]
        if not uuid or not found:
            return (
                Check(
                    "portfolio",
                    "fail",
                    f"the key's portfolio {uuid[:8] or '(none)'} is not among the account's"
                    " portfolios: make the key in the portfolio Kripto should trade.",
                ),
                None,
            )
        portfolio = found[0]
        if portfolio.get("deleted"):
            return (
                Check("portfolio", "fail", f"the key's portfolio {uuid[:8]} is deleted."),
                None,
            )
        return (
            Check(
                "portfolio",
                "ok",
                f"the key trades in portfolio {portfolio.get('name')!r} ({kind}, {uuid[:8]});"
                " its balances are the ones below.",
            ),
            None,
        )

    async def _fee_tier(self) -> tuple[Check, None]:
        summary = await self.exchange.transaction_summary()
        tier = summary.get("fee_tier") or {}
        maker, taker = _d(tier.get("maker_fee_rate"), "-1"), _d(tier.get("taker_fee_rate"), "-1")
        if maker < 0 or taker < 0:
            return Check("fee tier", "fail", "the transaction summary names no fee rates."), None
        said = (
            f"{tier.get('pricing_tier') or 'your tier'}: {_pct(maker)} maker, {_pct(taker)} taker"
        )
        configured = f"KRIPTO_FEE_TIER ({self.fees.describe()})"
        if taker > self.fees.taker or maker > self.fees.maker:
            return (
                Check(
                    "fee tier",
                    "fail",
                    f"Coinbase charges {said}, more than {configured}: decisions would weigh"
                    f" a cheaper round trip than the real one; set"
                    f" KRIPTO_FEE_TIER={maker.normalize():f}/{taker.normalize():f}.",
                ),
                None,
            )
        if taker < self.fees.taker or maker < self.fees.maker:
            return (
                Check(
                    "fee tier",
                    "ok",
                    f"Coinbase charges {said}, less than {configured}: decisions are cautious;"
                    f" KRIPTO_FEE_TIER={maker.normalize():f}/{taker.normalize():f} would match.",
                ),
                None,
            )
        return Check("fee tier", "ok", f"Coinbase charges {said}, as {configured} says."), None

    async def _balances(self) -> tuple[Check, None]:
        wallet = await self.exchange.wallet()
        wanted: list[str] = []
        for product in self.products:
            for currency in reversed(currencies(product)):  # the quote (GBP) first
                if currency not in wanted:
                    wanted.append(currency)
        shown = [_money(wallet.balance(c).available, c) for c in wanted]
        quotes = {currencies(p)[1] for p in self.products}
        short = [q for q in sorted(quotes) if wallet.balance(q).available < self.min_order]
        listed = ", ".join(shown)
        if short:
            return (
                Check(
                    "balances",
                    "fail",
                    f"{listed} available: {', '.join(short)} is below the smallest order"
                    f" ({fmt_money(self.min_order, short[0])}), so nothing can be bought;"
                    " add funds to the portfolio.",
                ),
                None,
            )
        return Check("balances", "ok", f"{listed} available."), None

    # -- each product ----------------------------------------------------------------------

    async def _product(self, product_id: str) -> tuple[Check, dict[str, Any] | None]:
        p = await self.exchange.product(product_id)
        quote = currencies(product_id)[1]
        problems = []
        if p.get("trading_disabled") or p.get("is_disabled") or p.get("view_only"):
            problems.append("trading is disabled")
        if p.get("cancel_only"):
            problems.append("it is cancel-only (no new orders)")
        if p.get("post_only"):
            problems.append("it is post-only (a market order would be refused)")
        if p.get("limit_only"):
            problems.append("it is limit-only (a market order would be refused)")
        status = str(p.get("status") or "online")
        if status.lower() != "online":
            problems.append(f"its status is {status!r}")
        quote_min, quote_max = _d(p.get("quote_min_size")), _d(p.get("quote_max_size"), "Infinity")
        price, base_min = _d(p.get("price")), _d(p.get("base_min_size"))
        quote_increment = _d(p.get("quote_increment"), "0.01")
        base_increment = _d(p.get("base_increment"), "0.00000001")
        smallest = fmt_money(self.min_order, quote)
        if quote_min > self.min_order:
            problems.append(
                f"its smallest order is {fmt_money(quote_min, quote)}, above Kripto's smallest"
                f" {smallest} (raise KRIPTO_MIN_ORDER_GBP)"
            )
        if quote_max < self.max_trade:
            problems.append(
                f"its largest order is {fmt_money(quote_max, quote)}, below KRIPTO_MAX_TRADE_GBP"
                f" ({fmt_money(self.max_trade, quote)})"
            )
        if price > 0 and base_min * price > self.min_order:
            problems.append(
                f"its smallest size {base_min:f} is worth more than {smallest}, so a"
                f" {smallest} sell would be refused"
            )
        if quote_increment > Decimal("0.01") or Decimal("0.01") % quote_increment != 0:
            problems.append(f"its price step {quote_increment:f} does not divide a penny")
        sizes = (
            f"orders from {fmt_money(quote_min, quote)} to"
            f" {fmt_money(quote_max, quote) if quote_max.is_finite() else 'no limit'},"
            f" sizes in steps of {base_increment:f}"
        )
        if problems:
            return Check(product_id, "fail", f"{'; '.join(problems)} ({sizes})."), p
        return (
            Check(
                product_id,
                "ok",
                f"trading normally; {sizes}: Kripto's {smallest} to"
                f" {fmt_money(self.max_trade, quote)} fits.",
            ),
            p,
        )

    async def _preview(self, product_id: str, details: dict[str, Any] | None) -> tuple[Check, None]:
        name = f"{product_id} preview"
        if not details:
            return Check(name, "skip", "not checked: the product was not read."), None
        base, quote = currencies(product_id)
        price = _d(details.get("price"))
        increment = _d(details.get("base_increment"), "0.00000001")
        buy = await self.exchange.preview_market_order(
            product_id, Side.BUY, quote_size=self.min_order
        )
        buy_errs = [str(e) for e in buy.get("errs") or []]
        buy_fee = _d(buy.get("commission_total"))
        buy_text = (
            f"buy {fmt_money(self.min_order, quote)} quotes commission {fmt_money(buy_fee, quote)}"
        )
        if price <= 0:
            return Check(name, "fail", f"{product_id} has no price to size a sell by."), None
        size = (self.min_order / price).quantize(increment, rounding=ROUND_DOWN)
        sell = await self.exchange.preview_market_order(product_id, Side.SELL, base_size=size)
        sell_errs = [str(e) for e in sell.get("errs") or []]
        sell_text = (
            f"sell {size.normalize():f} {base} quotes commission"
            f" {fmt_money(_d(sell.get('commission_total')), quote)}"
        )
        if buy_errs:
            return (
                Check(
                    name, "fail", f"Coinbase would refuse the smallest buy: {', '.join(buy_errs)}."
                ),
                None,
            )
        if sell_errs == ["PREVIEW_INSUFFICIENT_FUND"]:
            return (
                Check(
                    name,
                    "warn",
                    f"{buy_text}; the smallest sell would be refused for now: no {base} to sell"
                    " yet (expected before the first buy).",
                ),
                None,
            )
        if sell_errs:
            return (
                Check(
                    name,
                    "fail",
                    f"{buy_text}; Coinbase would refuse the smallest sell: {', '.join(sell_errs)}.",
                ),
                None,
            )
        return Check(name, "ok", f"{buy_text}; {sell_text}."), None

    # -- the clock -------------------------------------------------------------------------

    async def _clock(self) -> Check:
        if self.exchange is None:
            return Check("clock", "skip", "not checked: the key did not load.")
        try:
            before = self.clock()
            server: datetime = await self.exchange.server_time()
            after = self.clock()
        except KriptoError as exc:
            return Check("clock", "fail", f"{exc}.")
        skew = server.timestamp() - (before + after) / 2
        said = f"this machine's clock is {abs(skew):.1f} s {'behind' if skew > 0 else 'ahead of'}"
        said += " Coinbase's"
        if abs(skew) > self.clock_limit:
            return Check(
                "clock",
                "fail",
                f"{said}: more than {self.clock_limit:g} s (KRIPTO_MAX_CLOCK_SKEW), and Coinbase"
                " refuses a signed request whose time is off; turn on time sync (NTP).",
            )
        return Check("clock", "ok", f"{said} (within {self.clock_limit:g} s).")


# -- the mailer and the phone ---------------------------------------------------------------


async def mail_check(settings: MailSection, outbox: Path) -> Check:
    """`settings`: the mail section; `outbox`: where the outbox mailer writes receipts."""
    if settings.mailer != "ses":
        return Check(
            "mailer",
            "ok",
            f"receipts are written as .eml files to {outbox}; none is emailed"
            " (KRIPTO_MAILER=ses sends them).",
        )
    sender = settings.receipt_from
    try:
        verified = await asyncio.to_thread(_ses_verified, settings, sender)
    except Exception as exc:  # boto3's errors; never shows the credentials
        return Check(
            "mailer",
            "fail",
            f"SES in {settings.ses_region} could not be asked about {sender}"
            f" ({type(exc).__name__}); check the AWS credentials and KRIPTO_SES_REGION.",
        )
    if verified is None:
        return Check(
            "mailer",
            "fail",
            f"{sender} (KRIPTO_RECEIPT_FROM) is not an SES identity in {settings.ses_region}:"
            " verify it (or its domain) in SES before receipts can be sent.",
        )
    if not verified:
        return Check(
            "mailer",
            "fail",
            f"{sender} is an SES identity in {settings.ses_region} but not yet verified for"
            " sending: follow the verification email or DNS records.",
        )
    return Check(
        "mailer",
        "ok",
        f"SES in {settings.ses_region} may send from {sender}; receipts go to"
        f" {settings.receipt_to}.",
    )


def _ses_verified(settings: MailSection, sender: str) -> bool | None:
    """Whether SES may send from `sender` (its address or its domain is a verified identity);
    None when neither is an identity."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    credentials: dict[str, str] = {}
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        credentials = {
            "aws_access_key_id": settings.aws_access_key_id.get_secret_value(),
            "aws_secret_access_key": settings.aws_secret_access_key.get_secret_value(),
        }
    client = boto3.client(
        "sesv2",
        region_name=settings.ses_region,
        endpoint_url=settings.ses_endpoint_url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5),
        **credentials,
    )
    found = None
    for identity in (sender, sender.rpartition("@")[2]):
        try:
            reply = client.get_email_identity(EmailIdentity=identity)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NotFoundException", "NotFound"):
                continue
            raise
        # SES says VerifiedForSendingStatus; VerificationStatus SUCCESS means the same (and is
        # all moto's SES says).
        if reply.get("VerifiedForSendingStatus") or reply.get("VerificationStatus") == "SUCCESS":
            return True
        found = False
    return found


async def phone_checks(settings: NotificationsSection) -> list[Check]:
    checks = [await _telegram(settings)]
    checks += await _webhooks(settings)
    return checks


async def _telegram(settings: NotificationsSection) -> Check:
    if settings.telegram_bot_token is None:
        return Check(
            "telegram",
            "skip",
            "not set (KRIPTO_TELEGRAM_BOT_TOKEN): no news or control from the phone.",
        )
    from kripto.notify.telegram import TelegramApi

    api = TelegramApi(settings.telegram_api_url, settings.telegram_bot_token, timeout=10.0)
    try:
        me = await api.call("getMe", {})
        hook = await api.call("getWebhookInfo", {})
    except KriptoError as exc:
        return Check("telegram", "fail", f"{exc}; check KRIPTO_TELEGRAM_BOT_TOKEN.")
    finally:
        await api.close()
    name = f"@{(me or {}).get('username') or '?'}"
    if isinstance(hook, dict) and hook.get("url"):
        return Check(
            "telegram",
            "fail",
            f"bot {name} has a webhook set, so Telegram refuses the bot's polling; remove it"
            " (deleteWebhook).",
        )
    if not settings.telegram_chat_ids:
        return Check(
            "telegram",
            "fail",
            f"bot {name} answers, but KRIPTO_TELEGRAM_CHAT_IDS is empty: nobody gets the news.",
        )
    chats = ", ".join(str(c) for c in settings.telegram_chat_ids)
    return Check("telegram", "ok", f"bot {name} answers getMe; news goes to chat {chats}.")


async def _webhooks(settings: NotificationsSection) -> list[Check]:
    if settings.webhook_urls is None:
        return []
    import httpx

    from kripto.settings.notifications import parse_webhooks

    checks = []
    hooks = parse_webhooks(settings.webhook_urls.get_secret_value())
    async with httpx.AsyncClient(timeout=10.0) as http:
        for n, (style, url) in enumerate(hooks, start=1):
            host = httpx.URL(url).host
            name = f"webhook {n}"
            try:
                # A GET sends nothing to anyone; any HTTP answer means the URL is reachable.
                await http.get(url)
            except httpx.HTTPError as exc:
                checks.append(
                    Check(
                        name,
                        "fail",
                        f"{style} webhook at {host} cannot be reached ({type(exc).__name__}).",
                    )
                )
                continue
            checks.append(Check(name, "ok", f"{style} webhook at {host} is reachable."))
    return checks
