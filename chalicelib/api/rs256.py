"""RS256 signature verification for PyJWT without the ``cryptography`` package.

Why: the access tokens need only one operation, verifying an RS256 signature with a public
key from the pool's JWKS; ``cryptography`` (a 15 MB native library, 4.7 MB of the 10 MB zip)
was in the Lambda package for that alone (docs/architecture.md, the package size). The
verification itself is the ``rsa`` package's (pure Python, RSASSA-PKCS1-v1_5 as RFC 8017
prescribes: it rebuilds the whole expected encoding and compares it, never parses the
decrypted block); this module only turns JWKS entries into its keys, insists on SHA-256 (``rsa``
accepts any hash the signature names) and plugs it into PyJWT. Keys: RSA only, at least 2048
bits, an odd public exponent above 1 (a JWKS entry that is anything else is skipped).

``decoder()`` is a ``jwt.PyJWT`` whose only algorithm is this RS256: the claims checks (expiry,
issuer, required claims) stay PyJWT's. ``tests/unit/test_rs256.py`` checks it against
``cryptography`` (a test dependency) on valid, tampered and foreign-key signatures.
"""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

import jwt
import rsa
from jwt.algorithms import Algorithm

MIN_BITS = 2048
PublicKey = rsa.PublicKey


def _b64_int(text: str) -> int:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return int.from_bytes(raw, "big")


def key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    """An RSA public key from its JWK; ``ValueError`` for anything else."""
    if jwk.get("kty") != "RSA" or jwk.get("alg", "RS256") != "RS256" or jwk.get("use", "sig") != "sig":
        raise ValueError("not an RS256 signing key")
    try:
        n, e = _b64_int(str(jwk["n"])), _b64_int(str(jwk["e"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError("malformed RSA key") from exc
    if n.bit_length() < MIN_BITS or e < 3 or e % 2 == 0 or e >= n:
        raise ValueError("weak or invalid RSA key")
    return PublicKey(n, e)


def keys_from_jwks(jwks: dict[str, Any]) -> dict[str, PublicKey]:
    """``{kid: key}`` of the set's RS256 signing keys (others are skipped)."""
    found = {}
    for jwk in jwks.get("keys") or []:
        if isinstance(jwk, dict) and jwk.get("kid"):
            try:
                found[str(jwk["kid"])] = key_from_jwk(jwk)
            except ValueError:
                continue
    return found


def verify(message: bytes, signature: bytes, key: PublicKey) -> bool:
    """RSASSA-PKCS1-v1_5 with SHA-256, and no other hash."""
    try:
        return rsa.verify(message, signature, key) == "SHA-256"
    except (rsa.VerificationError, ValueError, OverflowError):
        return False


class RS256(Algorithm):
    """PyJWT's algorithm interface over ``verify``: verification only."""

    def prepare_key(self, key: Any) -> PublicKey:
        if not isinstance(key, PublicKey):
            raise jwt.InvalidKeyError("an RS256 public key (rs256.PublicKey) is required")
        return key

    def sign(self, msg: bytes, key: Any) -> bytes:
        raise NotImplementedError("the API verifies tokens; it never signs them")

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        return verify(msg, sig, key)

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        raise NotImplementedError

    @staticmethod
    def from_jwk(jwk: Any) -> PublicKey:
        return key_from_jwk(jwk if isinstance(jwk, dict) else dict(jwk))


@cache
def decoder() -> jwt.PyJWT:
    """A PyJWT decoder that knows RS256 (this module's) and nothing else."""
    jws = jwt.PyJWS(algorithms=[])
    jws.register_algorithm("RS256", RS256())
    out = jwt.PyJWT()
    out._jws = jws  # PyJWT builds its JWS layer in __init__; this one has only our RS256
    return out
