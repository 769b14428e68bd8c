"""Encrypted payloads: a Temporal payload codec with AES-256-GCM and named keys.

Modelled on temporalio/samples-python's `encryption` sample. Every payload a Kripto client or
worker writes (workflow inputs and results, activity inputs and results, memos, summaries, query
answers, and, with `encode_common_attributes`, failure messages) is serialised whole and sealed
with the newest key; the sealed payload says which key sealed it (`encryption-key-id`), so after
a rotation the older keys, still listed, open what they sealed.

Search attributes never pass through a codec: the server must read them to index them. That is
why `Settings.amounts_in_metadata` turns amounts out of them when encryption is on.

A payload that is not encrypted (a plain `temporal workflow start --input '{…}'`) is passed
through as it is, so the plain CLI keeps working. A payload sealed with a key that is not
configured cannot be opened: decoding raises `UnknownKeyError`, naming the key ID and the
setting. In a worker that fails the workflow (or activity) task, which Temporal retries with
backoff and shows on the workflow's page as a failed workflow task with that message, until a
worker that has the key picks it up; nothing is lost, and adding the key back ends the retries.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
SETTING = "KRIPTO_ENCRYPTION_KEYS"
_NONCE = 12
_KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class UnknownKeyError(ValueError):
    """A payload sealed with a key this process does not have."""


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


def new_key_line(key_id: str) -> str:
    """A fresh `id:base64key` entry (for `kripto dev --encrypt` and the recipe in
    docs/deploying.md)."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec):
    """Seals with the first key; opens with whichever listed key the payload names."""

    def __init__(self, keys: Sequence[EncryptionKey]) -> None:
        if not keys:
            raise ValueError(f"{SETTING}: name at least one key")
        self._current = keys[0]
        self._ciphers = {k.key_id: AESGCM(k.key) for k in keys}

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._current.key_id]
        out = []
        for p in payloads:
            nonce = os.urandom(_NONCE)
            sealed = nonce + cipher.encrypt(nonce, p.SerializeToString(), None)
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: self._current.key_id.encode()},
                    data=sealed,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)  # not ours: a plain payload from the CLI, or written before
                continue
            key_id = p.metadata.get(KEY_ID, b"").decode(errors="replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise UnknownKeyError(
                    f"payload encrypted with key {key_id!r}, which is not in {SETTING}"
                    f" (configured: {', '.join(self._ciphers)}); add that key back to"
                    f" {SETTING} (after the current one) to read it"
                )
            try:
                plain = cipher.decrypt(p.data[:_NONCE], p.data[_NONCE:], None)
            except InvalidTag:
                raise ValueError(
                    f"payload encrypted with key {key_id!r} does not decrypt with the key of that"
                    f" ID in {SETTING}: the key was changed, or the payload was tampered with"
                ) from None
            out.append(Payload.FromString(plain))
        return out
