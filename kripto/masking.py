"""The one place that knows what a secret looks like, for `kripto config` and the logs.

- `secret_values(settings)`: every secret the settings hold, as text to hide wherever it shows
  up: each SecretStr setting (API keys, the Telegram token, webhook URLs, the dashboard token,
  the codec token, the stop-link secret, encryption keys, AWS credentials, ...), the Coinbase
  key file's key, each webhook URL on its own, and a database URL's password (in its user part
  or as `?password=`).
- `mask_url(url)`: a URL with its password and secret query parameters replaced by MASK.
- `mask(text, secrets)`: each secret in `text` replaced by MASK.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote

from pydantic import BaseModel, SecretStr

MASK = "********"
#: Query parameters that carry a secret (libpq's `password`, `sslpassword`, and the usual
#: names of tokens and keys).
SECRET_PARAMS = ("password", "sslpassword", "passwd", "pwd", "secret", "token", "api_key", "apikey")
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)([^&#;\s]*)",
)
#: `scheme://user:password@host...`: the password runs to the last `@` before the host, so a
#: password holding `/`, `:` or `@` is masked whole.
_USERINFO = re.compile(r"(?i)^([a-z][a-z0-9+.-]*://[^:/?#@\s]*):(.*)@([^@/?#\s]*(?:[/?#].*)?)$")


def mask_url(url: str) -> str:
    """`postgresql://kripto:********@db/kripto?sslmode=require&password=********`."""
    m = _USERINFO.match(url)
    if m:
        url = f"{m.group(1)}:{MASK}@{m.group(3)}"
    return _SECRET_QUERY.sub(lambda q: q.group(1) + MASK, url)


def url_secrets(url: str) -> list[str]:
    """The passwords and secret parameters in a URL, as written and percent-decoded."""
    found: list[str] = []
    m = _USERINFO.match(url)
    if m and m.group(2):
        found.append(m.group(2))
    for q in _SECRET_QUERY.finditer(url):
        if q.group(2):
            found.append(q.group(2))
    _, _, query = url.partition("?")
    for key, value in parse_qsl(query.split("#", 1)[0]):
        if key.lower() in SECRET_PARAMS and value:
            found.append(value)
    return found + [unquote(v) for v in found if unquote(v) != v]


def _walk(model: BaseModel) -> Iterator[tuple[str, Any]]:
    """Every (name, value) of a settings model, into nested sections."""
    for name, value in model:
        if isinstance(value, BaseModel):
            yield from _walk(value)
        else:
            yield name, value


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret value the settings (kripto.settings.Settings, which this module does not
    import: settings use it) hold, longest first (so a PEM is masked before its lines, and a
    whole webhook list before one URL of it)."""
    values: list[str] = []
    for _, value in _walk(settings):
        if isinstance(value, SecretStr):
            values.append(value.get_secret_value())
        elif isinstance(value, str) and "://" in value:
            values += url_secrets(value)
    # The key file's key (the exchange section reads it).
    models = [settings, *(v for _, v in settings if isinstance(v, BaseModel))]
    readers = [getattr(m, "coinbase_private_key_pem", None) for m in models]
    read_pem = next((r for r in readers if callable(r)), None)
    try:
        pem = read_pem() if read_pem is not None else None
    except Exception:  # an unreadable key file is reported where it is used, not here
        pem = None
    if pem:
        values.append(pem)
    for text in list(values):  # a list of webhooks: each URL alone is a secret too
        for part in re.split(r"[,\s]+", text):
            part = part.split(":", 1)[1] if re.match(r"^(slack|discord):", part) else part
            if "://" in part:
                values.append(part)
    # A multi-line key may be logged a line at a time (in a traceback, say).
    lines = [line.strip() for v in values for line in v.splitlines()]
    values += [line for line in lines if len(line) >= 16 and not line.startswith("-----")]
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
