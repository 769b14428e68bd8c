"""JWTs for Coinbase Advanced Trade: ES256 and EdDSA keys, the right claims, a new nonce."""

from __future__ import annotations

import base64

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from kripto.errors import BadCredentials
from kripto.exchanges.coinbase_auth import CoinbaseSigner, load_private_key, mask_key_name

KEY_NAME = "organizations/org-1/apiKeys/key-1"
NOW = 1_800_000_000


def pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize("kind", ["ec", "ed25519"])
def test_a_token_verifies_with_the_public_key_and_carries_the_claims(kind: str) -> None:
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "ec"
        else ed25519.Ed25519PrivateKey.generate()
    )
    algorithm = "ES256" if kind == "ec" else "EdDSA"
    signer = CoinbaseSigner(KEY_NAME, pem(key))
    assert signer.algorithm == algorithm
    token = signer.token("get", "api.coinbase.com", "/api/v3/brokerage/accounts", now=NOW)

    header = jwt.get_unverified_header(token)
    assert header["alg"] == algorithm
    assert header["kid"] == KEY_NAME
    assert len(header["nonce"]) == 32
    claims = jwt.decode(
        token,
        key.public_key(),
        algorithms=[algorithm],
        options={"verify_exp": False, "verify_nbf": False},
    )
    assert claims == {
        "sub": KEY_NAME,
        "iss": "cdp",
        "nbf": NOW,
        "exp": NOW + 120,
        "uri": "GET api.coinbase.com/api/v3/brokerage/accounts",
    }


def test_each_token_is_new_with_its_own_nonce() -> None:
    signer = CoinbaseSigner(KEY_NAME, pem(ec.generate_private_key(ec.SECP256R1())))
    tokens = [
        signer.token("POST", "api.coinbase.com", "/api/v3/brokerage/orders") for _ in range(5)
    ]
    nonces = {jwt.get_unverified_header(t)["nonce"] for t in tokens}
    assert len(set(tokens)) == 5
    assert len(nonces) == 5


def test_a_token_from_another_key_does_not_verify() -> None:
    signer = CoinbaseSigner(KEY_NAME, pem(ec.generate_private_key(ec.SECP256R1())))
    token = signer.token("GET", "api.coinbase.com", "/x")
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["ES256"])


def test_key_formats_coinbase_hands_out_are_read() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    sec1 = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert isinstance(load_private_key(sec1), ec.EllipticCurvePrivateKey)
    # a PEM pasted into an environment variable with literal \n
    assert isinstance(load_private_key(sec1.replace("\n", "\\n")), ec.EllipticCurvePrivateKey)
    ed = ed25519.Ed25519PrivateKey.generate()
    seed = ed.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = ed.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    loaded = load_private_key(base64.b64encode(seed + public).decode())
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)
    assert (
        loaded.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        == public
    )


def test_bad_keys_are_refused_without_showing_them() -> None:
    secret = "-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----"
    with pytest.raises(BadCredentials) as caught:
        load_private_key(secret)
    assert "TOPSECRET" not in str(caught.value)
    with pytest.raises(BadCredentials):
        load_private_key("")
    p384 = pem(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(BadCredentials, match="P-256"):
        load_private_key(p384)


def test_the_signer_never_shows_its_key() -> None:
    private = pem(ec.generate_private_key(ec.SECP256R1()))
    signer = CoinbaseSigner(KEY_NAME, private)
    body = private.splitlines()[1]
    assert body not in repr(signer)
    assert body not in str(signer)
    assert KEY_NAME not in repr(signer)
    assert "organizations/…/apiKeys/…ey-1" in repr(signer)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        (
            "organizations/9a8b7c6d-org/apiKeys/5e4f3a2b-1c0d-4e9f-8a7b-6c5d4e3fa1b2",
            "organizations/…/apiKeys/…a1b2",
        ),
        (KEY_NAME, "organizations/…/apiKeys/…ey-1"),
        ("legacy-key-abcd1234", "…1234"),
        ("organizations/org-1/apiKeys/", "…eys/"),  # no key ID: not the usual shape
        ("abcd", "…"),  # too short to show any of it
    ],
)
def test_a_key_name_is_masked_to_its_last_four_characters(name: str, masked: str) -> None:
    assert mask_key_name(name) == masked
