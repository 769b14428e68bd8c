"""`kripto codec-server`: the remote codec the Temporal Web UI and CLI call to show encrypted
payloads in clear (`POST /decode`) and to encrypt what they send (`POST /encode`).

The body is Temporal's JSON form of `Payloads` (`{"payloads": [{"metadata": {…}, "data": …}]}`,
bytes in base64), as the UI and `temporal --codec-endpoint` send it; modelled on
temporalio/samples-python's `encryption/codec_server.py`.

Who may call it. Decoding hands out plaintext, so every request needs `Authorization: Bearer
<KRIPTO_CODEC_TOKEN>` (the CLI sends it with `--codec-auth`). The Web UI cannot send a token
of its own: it forwards only the access token of a UI login (none on the dev server) or
cookies. So, as a compromise, a browser request from the UI's origin (`KRIPTO_CODEC_UI_ORIGIN`,
exactly) is answered without a token **only while the server listens on loopback**. Web pages
from any other origin are refused (a browser always sends the page's real Origin), and nothing
off the machine can reach it; what remains is that a process on the same machine could claim
to be the UI. Bound to any other address, the token is required of everyone."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from kripto.settings import Settings, SettingsError

log = logging.getLogger(__name__)
MAX_BODY = 8 * 1024 * 1024
_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(
    codec: PayloadCodec, token: str, ui_origin: str, ui_without_token: bool
) -> Starlette:
    """The ASGI app. `ui_without_token`: answer the UI's origin without a token (loopback only)."""
    expected = f"Bearer {token}".encode()

    def cors(request: Request) -> dict[str, str]:
        if request.headers.get("origin") != ui_origin:
            return {}
        return {
            "Access-Control-Allow-Origin": ui_origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }

    def allowed(request: Request) -> Response | None:
        """None if the caller may use the codec, else the refusal."""
        auth = request.headers.get("authorization")
        if auth is not None:
            if hmac.compare_digest(auth.encode(), expected):
                return None
            return PlainTextResponse("invalid codec token", 403, headers=cors(request))
        if ui_without_token and request.headers.get("origin") == ui_origin:
            return None
        return PlainTextResponse(
            "missing codec token: send Authorization: Bearer <KRIPTO_CODEC_TOKEN>",
            401,
            headers={"WWW-Authenticate": "Bearer", **cors(request)},
        )

    def endpoint(
        apply: Callable[[list[Payload]], Awaitable[list[Payload]]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            if request.method == "OPTIONS":  # the browser's preflight: CORS headers only
                return Response(status_code=204 if cors(request) else 403, headers=cors(request))
            refused = allowed(request)
            if refused is not None:
                return refused
            body = await request.body()
            if len(body) > MAX_BODY:
                return PlainTextResponse("body too large", 413, headers=cors(request))
            try:
                payloads = json_format.Parse(body, Payloads())
            except json_format.ParseError:
                return PlainTextResponse(
                    'body must be JSON Payloads: {"payloads": [...]}', 400, headers=cors(request)
                )
            try:
                result = await apply(list(payloads.payloads))
            except ValueError as exc:  # an unknown key ID, a payload that does not decrypt
                log.warning("codec: %s", exc)
                return PlainTextResponse(str(exc), 422, headers=cors(request))
            return JSONResponse(
                json_format.MessageToDict(Payloads(payloads=result)), headers=cors(request)
            )

        return handle

    return Starlette(
        routes=[
            Route("/encode", endpoint(codec.encode), methods=["POST", "OPTIONS"]),
            Route("/decode", endpoint(codec.decode), methods=["POST", "OPTIONS"]),
        ]
    )


def app_from_settings(settings: Settings) -> Starlette:
    """The app for these settings; errors name the setting that is missing."""
    from kripto.temporal.codec import EncryptionCodec, parse_keys

    if settings.encryption.encryption_keys is None:
        raise SettingsError(
            "KRIPTO_ENCRYPTION_KEYS is not set: the codec server needs the keys it decodes with"
        )
    if settings.encryption.codec_token is None:
        raise SettingsError(
            "KRIPTO_CODEC_TOKEN is not set: the codec server hands out plaintext, so it needs a"
            " token (at least 16 characters; `openssl rand -hex 24` makes one)"
        )
    codec = EncryptionCodec(parse_keys(settings.encryption.encryption_keys.get_secret_value()))
    return create_app(
        codec,
        settings.encryption.codec_token.get_secret_value(),
        settings.encryption.codec_ui_origin,
        ui_without_token=is_loopback(settings.encryption.codec_host),
    )


def codec_url(settings: Settings) -> str:
    return f"http://{settings.encryption.codec_host}:{settings.encryption.codec_port}"


async def serve(settings: Settings, started: Callable[[], None] | None = None) -> None:
    """Serve until cancelled. `started` is called once it listens. Signals are left to the
    caller (the CLI command, or `kripto dev`'s own handlers)."""
    import asyncio
    import contextlib
    from collections.abc import Iterator

    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    server = _Server(
        uvicorn.Config(
            app_from_settings(settings),
            host=settings.encryption.codec_host,
            port=settings.encryption.codec_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                with contextlib.suppress(BaseException):
                    await task
                raise SettingsError(
                    f"KRIPTO_CODEC_PORT: cannot listen on {codec_url(settings)} (in use?)"
                )
            await asyncio.sleep(0.05)
        if started is not None:
            started()
        await asyncio.shield(task)
    finally:
        server.should_exit = True
        await asyncio.wait([task], timeout=5)
