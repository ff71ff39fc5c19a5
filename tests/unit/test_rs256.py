"""Access-token signatures are verified without ``cryptography`` (``chalicelib/api/rs256.py``, on
the ``rsa`` package),
and exactly as ``cryptography`` verifies them: tokens it signs pass, anything else fails —
tampered, signed by another key, the wrong length, a lenient-parser forgery, another
algorithm. ``cryptography`` is a test dependency only (requirements-dev.txt)."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256

from chalicelib.api import rs256

CLAIMS = {"sub": "user-1", "iss": "https://issuer.example", "token_use": "access"}


@pytest.fixture(scope="module")
def private_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk_of(key, kid: str = "k1") -> dict:
    return {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "RS256",
            "use": "sig"}


def token(key, **over) -> str:
    now = int(time.time())
    return jwt.encode({**CLAIMS, "iat": now, "exp": now + 60, **over}, key, algorithm="RS256", headers={"kid": "k1"})


def decode(text: str, key: rs256.PublicKey) -> dict:
    return rs256.decoder().decode(text, key, algorithms=["RS256"], issuer=CLAIMS["iss"],
                                  options={"require": ["exp", "iat", "sub", "iss"]})


def test_a_token_signed_by_the_pools_key_verifies_with_its_claims(private_key):
    key = rs256.keys_from_jwks({"keys": [jwk_of(private_key)]})["k1"]
    assert decode(token(private_key), key)["sub"] == "user-1"


def test_signatures_agree_with_cryptography_on_many_messages(private_key, other_key):
    key = rs256.key_from_jwk(jwk_of(private_key))
    for n in range(40):
        message = f"message {n}".encode() * (n + 1)
        good = private_key.sign(message, padding.PKCS1v15(), SHA256())
        assert rs256.verify(message, good, key)
        assert not rs256.verify(message + b"!", good, key)
        assert not rs256.verify(message, other_key.sign(message, padding.PKCS1v15(), SHA256()), key)


def test_error_on_a_tampered_token_or_one_signed_by_another_key(private_key, other_key):
    key = rs256.key_from_jwk(jwk_of(private_key))
    header, payload, signature = token(private_key).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**CLAIMS, "sub": "admin-1", "iat": 1, "exp": 2**40}).encode())
    with pytest.raises(jwt.InvalidSignatureError):
        decode(f"{header}.{forged.decode().rstrip('=')}.{signature}", key)
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token(other_key), key)


def test_error_on_an_expired_token_or_another_issuer(private_key):
    key = rs256.key_from_jwk(jwk_of(private_key))
    with pytest.raises(jwt.ExpiredSignatureError):
        decode(token(private_key, exp=int(time.time()) - 10), key)
    with pytest.raises(jwt.InvalidIssuerError):
        decode(token(private_key, iss="https://elsewhere.example"), key)


def test_error_on_another_algorithm_even_with_the_public_key_as_its_secret(private_key):
    key = rs256.key_from_jwk(jwk_of(private_key))
    public_text = jwk_of(private_key)["n"].encode()  # the public modulus as an HMAC secret
    now = int(time.time())
    hs = jwt.api_jws.PyJWS().encode(json.dumps({**CLAIMS, "iat": now, "exp": now + 60}).encode(), public_text,
                                    algorithm="HS256")
    with pytest.raises(jwt.InvalidAlgorithmError):
        decode(hs, key)
    unsigned = jwt.api_jws.PyJWS(algorithms=["none"]).encode(json.dumps(CLAIMS).encode(), None, algorithm="none")
    with pytest.raises(jwt.InvalidAlgorithmError):
        decode(unsigned, key)


def _raw_sign(private_key, encoded: bytes) -> bytes:
    """``encoded`` raised to the private exponent: a signature of any block we choose."""
    numbers = private_key.private_numbers()
    n = numbers.public_numbers.n
    return pow(int.from_bytes(encoded, "big"), numbers.d, n).to_bytes(len(encoded), "big")


def test_the_whole_encoding_is_compared_not_parsed(private_key):
    """A block with the right digest but anything else off (short padding with trailing
    bytes — what lenient parsers accepted — or a wrong padding byte) is refused."""
    key = rs256.key_from_jwk(jwk_of(private_key))
    message = b"header.payload"
    info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(message).digest()
    k = (key.n.bit_length() + 7) // 8
    proper = b"\x00\x01" + b"\xff" * (k - len(info) - 3) + b"\x00" + info
    assert rs256.verify(message, _raw_sign(private_key, proper), key)
    trailing = b"\x00\x01" + b"\xff" * 8 + b"\x00" + info
    trailing += b"\x00" * (k - len(trailing))
    assert not rs256.verify(message, _raw_sign(private_key, trailing), key)
    off_by_one = proper[:5] + b"\xfe" + proper[6:]
    assert not rs256.verify(message, _raw_sign(private_key, off_by_one), key)
    signature = _raw_sign(private_key, proper)
    assert not rs256.verify(message, signature[1:], key)                      # not k bytes
    assert not rs256.verify(message, key.n.to_bytes(k, "big"), key)           # not below the modulus


def test_a_valid_signature_over_another_hash_is_refused(private_key):
    """``rsa`` accepts any hash a signature names; an RS256 token must be SHA-256."""
    key = rs256.key_from_jwk(jwk_of(private_key))
    from cryptography.hazmat.primitives.hashes import SHA1, SHA512

    for other in (SHA1(), SHA512()):
        assert not rs256.verify(b"header.payload", private_key.sign(b"header.payload", padding.PKCS1v15(), other), key)


def test_only_strong_rs256_signing_keys_are_taken_from_the_key_set(private_key):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks = {"keys": [jwk_of(private_key, "good"), jwk_of(weak, "weak"),
                     {**jwk_of(private_key, "enc"), "use": "enc"},
                     {**jwk_of(private_key, "ps"), "alg": "PS256"},
                     {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
                     {**jwk_of(private_key, "even"), "e": "Ag"},
                     {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}]}
    assert set(rs256.keys_from_jwks(jwks)) == {"good"}
