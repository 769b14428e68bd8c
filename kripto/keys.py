"""Encryption keys as KRIPTO_ENCRYPTION_KEYS names them (`id:base64key`, newest first): read
and checked here, once, for the settings (which refuse a bad key at start-up) and the payload
codec (kripto/temporal/codec.py, which seals and opens payloads with them)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

SETTING = "KRIPTO_ENCRYPTION_KEYS"
_KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, repr=False)
class EncryptionKey:
    """One named AES-256 key. Its repr never shows the key."""

    key_id: str
    key: bytes

    def __repr__(self) -> str:
        return f"EncryptionKey({self.key_id!r}, ********)"


def parse_keys(text: str) -> list[EncryptionKey]:
    """`id:base64key,id:base64key`, newest first. Errors name the setting and the key's ID,
    never the key itself."""
    entries = [e.strip() for e in text.replace("\n", ",").split(",") if e.strip()]
    if not entries:
        raise ValueError(f"{SETTING}: name at least one key as id:base64key")
    keys: list[EncryptionKey] = []
    for n, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep:
            raise ValueError(f"{SETTING}: entry {n} must be id:base64key (no ':' found)")
        if not _KEY_ID_PATTERN.match(key_id):
            raise ValueError(
                f"{SETTING}: entry {n}'s key ID must be 1-64 letters, digits, '.', '_' or '-'"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{SETTING}: key {key_id!r} is not valid base64") from None
        if len(key) != 32:
            raise ValueError(
                f"{SETTING}: key {key_id!r} must be 32 bytes (AES-256) in base64, not"
                f" {len(key)} bytes; make one with `openssl rand -base64 32`"
            )
        if any(k.key_id == key_id for k in keys):
            raise ValueError(f"{SETTING}: key ID {key_id!r} is listed twice")
        keys.append(EncryptionKey(key_id, key))
    return keys
