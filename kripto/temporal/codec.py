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
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from kripto.keys import SETTING, EncryptionKey, parse_keys

__all__ = ["EncryptionCodec", "EncryptionKey", "UnknownKeyError", "new_key_line", "parse_keys"]

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE = 12


class UnknownKeyError(ValueError):
    """A payload sealed with a key this process does not have."""


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
