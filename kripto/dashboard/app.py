"""The trader's dashboard: one page (price, money, now, tables, the kill switch and a manual
trade form) over a small JSON API it polls, plus the confirmation page of a receipt's stop link.

Everything but the stop-link pages, the sign-in page, the static files and /healthz needs a
signed-in session; changing anything (pause, resume, trade, a stop link) also needs a CSRF
token and a configured Origin. The rules are kripto.dashboard.security's (docs/security.md)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast
from urllib.parse import parse_qsl

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from temporalio.service import RPCError

from kripto.dashboard.data import SPANS, DashboardData, Span
from kripto.dashboard.security import (
    COOKIE,
    CSRF_HEADER,
    BodyLimit,
    Refused,
    Session,
    Sessions,
    address_of,
    allowed_hosts,
    allowed_origins,
    check_csrf,
    check_origin,
    cookie_options,
    form_token,
)
from kripto.db.pool import Database
from kripto.db.stoplinks import StopLinkRepository
from kripto.errors import InvalidInput
from kripto.fees import planned_rate
from kripto.fills import market_fill
from kripto.inputs import amount_problem, parse_trade_request
from kripto.models import Side, TradeRequest
from kripto.money import PENNY, plain
from kripto.services import control
from kripto.services import trades as trading
from kripto.services.connection import Connection
from kripto.services.tax import tax_report
from kripto.settings import Settings
from kripto.stoplinks import StopLinkError, StopLinkSigner

_templates = Environment(
    loader=PackageLoader("kripto.dashboard", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline';"
    " frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
#: How long the trade form waits for its trade to settle before answering "still running".
TRADE_WAIT_SECONDS = 60.0


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _stamp(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


Handler = Callable[[Request], Awaitable[Response]]
log = logging.getLogger(__name__)


@dataclass
class Dashboard:
    settings: Settings
    client: Connection
    db: Database
    sessions: Sessions
    stop_links: StopLinkSigner | None
    #: Signs the stop page's form token (kripto.dashboard.security.form_token); per process.
    form_key: bytes = b""

    @property
    def product(self) -> str:
        return self.settings.general.products[0]

    @property
    def origins(self) -> set[str]:
        s = self.settings.dashboard
        return allowed_origins(s.dashboard_url, s.dashboard_port, s.public_url)

    def data(self) -> DashboardData:
        return DashboardData(
            self.db, self.product, self.settings.exchange.paper_gbp, self.settings.exchange.fees
        )

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = _templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def refusal(self, request: Request, exc: Refused) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.reason}, status_code=exc.status, headers=exc.headers)
        response = self.page("message.html.j2", exc.status, title="Refused", message=exc.reason)
        response.headers.update(exc.headers)
        return response

    def signed_in(self, handler: Handler) -> Handler:
        """`handler` for a signed-in session only: else 401 (the sign-in page, or JSON)."""

        async def guarded(request: Request) -> Response:
            if self.sessions.of(request) is None:
                if request.url.path.startswith("/api/"):
                    reason = "not signed in: open the dashboard's sign-in page"
                    return JSONResponse({"error": reason}, status_code=401)
                return self.login_page(request, status=401)
            return await handler(request)

        return guarded

    # -- reading ---------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        session = self.sessions.of(request)
        assert session is not None  # signed_in() let it through
        return self.page(
            "index.html.j2",
            product=self.product,
            signed_in=True,
            who=session.name,
            csrf=session.csrf,
            ui=f"{self.settings.temporal.temporal_ui_url}/namespaces/"
            f"{self.settings.temporal.temporal_namespace}",
        )

    async def state(self, request: Request) -> Response:
        span = request.query_params.get("span", "day")
        if span not in SPANS:
            return JSONResponse({"error": "span must be day, week or all"}, status_code=400)
        data = self.data()
        fills = await data.fills()
        # Separate pool connections, so the queries and the schedule's RPC overlap.
        chart, latest_rate, trades, decisions, wallet, schedule = await asyncio.gather(
            data.chart(cast(Span, span), fills),
            data.latest(),
            data.trades(),
            data.decisions(),
            data.wallet(),
            self.schedule_state(),
        )
        latest = (latest_rate.date_time, latest_rate.rate) if latest_rate else None
        return JSONResponse(
            {
                "chart": chart,
                "money": data.money(fills, latest[1] if latest else None),
                "now": {
                    "rate": str(latest[1]) if latest else None,
                    "rateTime": latest[0].isoformat() if latest else None,
                    "simulated": latest_rate is not None and latest_rate.source == "simulated",
                    "wallet": wallet,
                    "lastDecision": decisions[0] if decisions else None,
                    **schedule,
                },
                "trades": trades,
                "decisions": decisions,
            }
        )

    async def quote(self, request: Request) -> Response:
        """What a manual trade would be at the newest rate and the configured fee, for the
        confirmation: the amount, the estimated size and the fee (the paper exchange's
        arithmetic; a live fill may differ with the market)."""
        side = request.query_params.get("side", "")
        amount = request.query_params.get("amount", "")
        if side not in ("buy", "sell"):
            return JSONResponse({"error": "side must be buy or sell"}, status_code=422)
        problem = amount_problem(amount)
        if problem is not None:
            return JSONResponse({"error": f"amount: {problem}"}, status_code=422)
        latest = await self.data().latest()
        if latest is None:
            return JSONResponse({"error": "no rate is stored yet"}, status_code=409)
        # What the execution plans to pay (kripto/fees.py): maker-first, the maker rate.
        fees, execution = self.settings.exchange.fees, self.settings.execution.execution
        planned = planned_rate(fees, execution)
        fill = market_fill(Side(side), Decimal(amount), latest.rate, planned)
        return JSONResponse(
            {
                "side": side,
                "amount": plain(Decimal(amount).quantize(PENNY)),
                "size": plain(fill.filled_size),
                "rate": plain(latest.rate.quantize(PENNY)),
                "fee": plain(fill.fill_fees.quantize(PENNY)),
                "feeRate": format((planned * 100).normalize(), "f"),
                "execution": execution.value,
                # The rate a remainder pays if the maker window ends unfilled.
                "takerFeeRate": format((fees.taker * 100).normalize(), "f"),
            }
        )

    async def schedule_state(self) -> dict[str, Any]:
        state = await control.schedule_state(self.client, self.settings, self.product)
        return {
            "paused": state.paused,
            "note": state.note,
            "nextTick": state.next_tick.isoformat() if state.next_tick else None,
        }

    # -- signing in --------------------------------------------------------------------------

    def login_page(self, request: Request, status: int = 200, error: str = "") -> Response:
        return self.page("login.html.j2", status, error=error)

    async def login_form(self, request: Request) -> Response:
        if self.sessions.of(request) is not None:
            return RedirectResponse("/", status_code=303)
        return self.login_page(request)

    async def login(self, request: Request) -> Response:
        """Sign in by POST (a form with `token`): never a token in a URL's query string."""
        try:
            form = dict(parse_qsl((await request.body()).decode(errors="replace")))
            session = self.sessions.sign_in(request, form.get("token"))
        except Refused as exc:
            response = self.login_page(request, exc.status, exc.reason)
            response.headers.update(exc.headers)
            return response
        log.info("dashboard: %s signed in", session.name)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE, session.id, **cookie_options(self.settings.dashboard.public_url)
        )
        return response

    async def logout(self, request: Request) -> Response:
        try:
            session = self.authorised(request, request.headers.get(CSRF_HEADER))
        except Refused as exc:
            return self.refusal(request, exc)
        self.sessions.end(session)
        response = JSONResponse({"signedOut": True})
        response.delete_cookie(COOKIE, **cookie_options(self.settings.dashboard.public_url))
        return response

    def authorised(self, request: Request, csrf: str | None) -> Session:
        session = self.sessions.of(request)
        if session is None:
            raise Refused(401, "not signed in: open the dashboard's sign-in page")
        check_origin(request, self.origins)
        check_csrf(session.csrf, csrf)
        return session

    # -- changing things ---------------------------------------------------------------------

    async def pause(self, request: Request) -> Response:
        return await self._switch(request, paused=True)

    async def resume(self, request: Request) -> Response:
        return await self._switch(request, paused=False)

    async def _switch(self, request: Request, paused: bool) -> Response:
        try:
            session = self.authorised(request, request.headers.get(CSRF_HEADER))
        except Refused as exc:
            return self.refusal(request, exc)
        verb = "paused" if paused else "resumed"
        note = f"{verb} from the dashboard by {session.name} at {_stamp(_now())}"
        switch = control.pause if paused else control.resume
        changed = await switch(self.client, self.settings, note)
        return JSONResponse({"paused": paused, "schedules": changed, "note": note})

    async def trade(self, request: Request) -> Response:
        try:
            session = self.authorised(request, request.headers.get(CSRF_HEADER))
        except Refused as exc:
            return self.refusal(request, exc)
        try:
            body = json.loads(await request.body() or b"null")
            request_model = parse_trade_request([body])
        except (ValueError, InvalidInput) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return await self._start_trade(request_model, session)

    async def _start_trade(self, trade: TradeRequest, session: Session) -> Response:
        trade = trade.model_copy(
            update={"idempotency_key": trade.idempotency_key or str(uuid.uuid4())}
        )
        by = f"traded from the dashboard by {session.name} at {_stamp(_now())}"
        try:
            started = await trading.start_trade(self.client, self.settings, trade, by=by)
        except trading.KeyUsedForAnotherTrade as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        trade_id = started.trade_id
        try:
            order = await trading.order_of(started, within=TRADE_WAIT_SECONDS)
        except trading.TradeFailed as exc:
            return JSONResponse({"error": f"trade refused: {exc}", "id": trade_id}, status_code=422)
        except TimeoutError:
            return JSONResponse({"id": trade_id, "running": True}, status_code=202)
        return JSONResponse(
            {
                "id": trade_id,
                "existed": started.existed,
                "amount": str(trade.amount),  # what was asked for, beside what was paid
                "order": order.to_json_dict(),
            }
        )

    # -- the stop link -----------------------------------------------------------------------

    def _stop_link(self, token: str) -> Any:
        if self.stop_links is None:
            raise Refused(404, "stop links are off here (KRIPTO_STOP_LINK_SECRET is not set)")
        try:
            return self.stop_links.verify(token, _now())
        except StopLinkError as exc:
            raise Refused(403, str(exc)) from None

    async def _used(self, link_id: str) -> bool:
        return await StopLinkRepository(self.db).used(link_id)

    async def stop_page(self, request: Request) -> Response:
        """The confirmation page. It makes no session: the signed link is the credential, and
        the form's token is bound to the link under this process's key."""
        token = request.path_params["token"]
        try:
            link = self._stop_link(token)
            if await self._used(link.link_id):
                raise Refused(410, "This stop link has already been used.")
        except Refused as exc:
            return self.refusal(request, exc)
        return self.page(
            "stop.html.j2",
            token=token,
            csrf=form_token(self.form_key, token),
            expires=_stamp(link.expires),
        )

    async def stop_confirm(self, request: Request) -> Response:
        """Pause first, then mark the link used: if Temporal cannot be reached, the link is
        not spent and works when opened again."""
        token = request.path_params["token"]
        try:
            # The link and the origin before the body is read (and the body is small anyway).
            link = self._stop_link(token)
            check_origin(request, self.origins)
            form = dict(parse_qsl((await request.body()).decode(errors="replace")))
            check_csrf(form_token(self.form_key, token), form.get("csrf"))
            if await self._used(link.link_id):
                raise Refused(410, "This stop link has already been used.")
        except Refused as exc:
            return self.refusal(request, exc)
        who = address_of(request)
        note = (
            f"paused by a receipt's stop link (link {link.link_id}) from {who} at {_stamp(_now())}"
        )
        try:
            changed = await control.pause(self.client, self.settings, note)
        except Exception as exc:  # Temporal unreachable, or any other failure: not paused
            why = exc.message if isinstance(exc, RPCError) else type(exc).__name__
            log.warning(
                "stop link %s: could not pause (%s); the link is not spent", link.link_id, why
            )
            return self.page(
                "message.html.j2",
                503,
                title="Not paused yet",
                message="Trading could not be paused: Temporal did not answer. The link is not"
                " used up: open it again in a minute.",
            )
        # Two tabs at once: both paused; the link is spent either way.
        await StopLinkRepository(self.db).use(link.link_id, who)
        return self.page(
            "message.html.j2",
            title="Trading paused",
            message=f"Trading is paused ({', '.join(changed) or 'no schedules'}): {note}.",
        )

    # -- the tax report --------------------------------------------------------------------

    async def tax_data(self, request: Request) -> dict[str, Any]:
        """The year asked for (default: the current UK tax year), as `kripto tax --json`."""
        from kripto.tax.years import TaxYear, parse_tax_year, uk_day

        asked = request.query_params.get("year")
        year = parse_tax_year(asked) if asked else TaxYear.containing(uk_day(_now()))
        return await tax_report(self.db, year)

    async def tax(self, request: Request) -> Response:
        from kripto.tax.report import BOXES, gbp

        try:
            data = await self.tax_data(request)
        except InvalidInput as exc:
            return self.page("message.html.j2", 400, title="Tax", message=str(exc))
        columns = (
            [{"label": "Whole year", **data["totals"]}]
            if len(data["periods"]) == 1
            else data["periods"]
        )
        return self.page(
            "tax.html.j2",
            r=data,
            columns=columns,
            boxes=BOXES,
            gbp=lambda figure: gbp(Decimal(figure)),
        )

    async def tax_api(self, request: Request) -> Response:
        try:
            return JSONResponse(await self.tax_data(request))
        except InvalidInput as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"ok": True})


def create_app(
    settings: Settings, client: Connection, db: Database, *, close_db: bool = False
) -> Starlette:
    token = (
        settings.dashboard.dashboard_token.get_secret_value()
        if settings.dashboard.dashboard_token
        else None
    )
    secret = settings.dashboard.stop_link_secret
    board = Dashboard(
        settings,
        client,
        db,
        Sessions(token, idle_seconds=settings.dashboard.dashboard_session_idle.total_seconds()),
        StopLinkSigner(secret.get_secret_value(), settings.dashboard.stop_link_base)
        if secret
        else None,
        form_key=secrets.token_bytes(32),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if close_db:
            await db.close()

    from importlib.resources import files

    static = str(files("kripto.dashboard") / "static")
    guard = board.signed_in
    return Starlette(
        routes=[
            Route("/", guard(board.index)),
            Route("/healthz", board.healthz),
            Route("/login", board.login_form, methods=["GET"]),
            Route("/login", board.login, methods=["POST"]),
            Route("/logout", board.logout, methods=["POST"]),
            Route("/api/state", guard(board.state)),
            Route("/tax", guard(board.tax)),
            Route("/api/tax", guard(board.tax_api)),
            Route("/api/quote", guard(board.quote)),
            Route("/api/pause", board.pause, methods=["POST"]),
            Route("/api/resume", board.resume, methods=["POST"]),
            Route("/api/trade", board.trade, methods=["POST"]),
            Route("/stop/{token}", board.stop_page, methods=["GET"]),
            Route("/stop/{token}", board.stop_confirm, methods=["POST"]),
            Mount("/static", StaticFiles(directory=static), name="static"),
        ],
        middleware=[
            # Outermost first: a foreign Host is refused before anything else happens, and no
            # body larger than MAX_BODY is read by anyone.
            Middleware(
                TrustedHostMiddleware,
                allowed_hosts=allowed_hosts(
                    settings.dashboard.dashboard_host, settings.dashboard.public_url
                ),
            ),
            Middleware(BodyLimit),
        ],
        lifespan=lifespan,
    )
