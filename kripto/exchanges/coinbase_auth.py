"""JWT authentication for Coinbase Advanced Trade (CDP API keys).

Every request carries `Authorization: Bearer <JWT>`, a new token per request: header
`kid` = key name and a random `nonce`; claims `sub` = key name, `iss` = "cdp", `nbf` = now,
`exp` = now + 120 s and `uri` = "<METHOD> <host><path>" (no query string). EC P-256 keys sign
with ES256, Ed25519 keys with EdDSA.

The private key never appears in a repr, a log line or an exception message. The key name is
not a secret that signs anything, but it identifies the account's key, so reprs and messages
show it masked (`mask_key_name`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from kripto.errors import BadCredentials

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
TOKEN_LIFETIME = 120
_KEY_NAME = re.compile(r"organizations/[^/]+/apiKeys/([^/]+)")


def mask_key_name(key_name: str) -> str:
    """The key name as reprs and messages show it: `organizations/…/apiKeys/…a1b2`.

    Only the key ID's last 4 characters stay, enough to tell keys apart; a name of another
    shape shows as `…` and its last 4 characters. Anything of 4 characters or fewer shows
    as `…` alone, since its last 4 characters would be all of it."""
    match = _KEY_NAME.fullmatch(key_name)
    if match:
        return f"organizations/…/apiKeys/{_tail(match.group(1))}"
    return _tail(key_name)


def _tail(text: str) -> str:
    return "…" + (text[-4:] if len(text) > 4 else "")


def load_private_key(pem_text: str) -> PrivateKey:
    """Read a CDP private key: a PEM EC P-256 key (ES256) or a PEM Ed25519 key (EdDSA).

    Also accepted: a PEM whose newlines arrived as literal `\\n` (from an environment
    variable), and an Ed25519 key as Coinbase shows it, base64 of the 32-byte seed or of the
    64-byte seed + public key. Errors name the problem, never the key."""
    text = (pem_text or "").strip().replace("\\n", "\n")
    if not text:
        raise BadCredentials("the Coinbase API private key is empty")
    if "-----BEGIN" in text:
        try:
            key = load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            raise BadCredentials(
                "the Coinbase API private key is not a readable unencrypted PEM key"
            ) from None
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise BadCredentials(
                    f"the Coinbase API private key is on curve {key.curve.name};"
                    " ES256 needs P-256 (secp256r1)"
                )
            return key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key
        raise BadCredentials(
            f"the Coinbase API private key is a {type(key).__name__.removeprefix('_')};"
            " it must be EC P-256 or Ed25519"
        )
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) in (32, 64):
        return ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    raise BadCredentials(
        "the Coinbase API private key is neither a PEM key nor a base64 Ed25519 key"
    )


def algorithm_for(key: PrivateKey) -> str:
    return "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"


class CoinbaseSigner:
    """Makes a new JWT for each request. Holds the key; shows only the key's masked name."""

    __slots__ = ("_key", "algorithm", "key_name")

    def __init__(self, key_name: str, private_key_pem: str) -> None:
        if not key_name:
            raise BadCredentials("the Coinbase API key name is empty")
        self.key_name = key_name
        self._key = load_private_key(private_key_pem)
        self.algorithm = algorithm_for(self._key)

    def __repr__(self) -> str:
        return (
            f"CoinbaseSigner(key_name={mask_key_name(self.key_name)!r},"
            f" algorithm={self.algorithm!r})"
        )

    __str__ = __repr__

    def token(self, method: str, host: str, path: str, *, now: float | None = None) -> str:
        """A JWT for one request to `host` + `path` (the path without its query string)."""
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": self.key_name,
            "iss": "cdp",
            "nbf": issued,
            "exp": issued + TOKEN_LIFETIME,
            "uri": f"{method.upper()} {host}{path}",
        }
        headers = {"kid": self.key_name, "nonce": secrets.token_hex(16)}
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)


def read_coinbase_key_file(path: Path) -> tuple[str | None, str]:
    """The key name (if the file names one) and the private key from a CDP key file.

    Two shapes are read: the JSON file Coinbase downloads (`{"name": "organizations/…/apiKeys/…",
    "privateKey": "-----BEGIN EC PRIVATE KEY-----…"}`; newer Ed25519 keys carry `id` instead of
    `name`), and a bare PEM private key. Errors name the setting, never the file's contents."""
    setting = "KRIPTO_COINBASE_API_PRIVATE_KEY_FILE"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise ValueError(f"{setting}: cannot read {path} ({why})") from None
    if not text.lstrip().startswith("{"):
        return None, text
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "?"
        raise ValueError(f"{setting}: {path} is not valid JSON ({where})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{setting}: {path} is not a CDP key file (a JSON object)")
    private = data.get("privateKey")
    if not isinstance(private, str) or not private.strip():
        raise ValueError(f'{setting}: {path} has no "privateKey": is it the CDP API key file?')
    name = data.get("name") or data.get("id")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f'{setting}: {path} has a "name" that is not a key name')
    return (name.strip() if name else None), private
