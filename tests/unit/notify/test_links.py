"""Action-link tokens: only ours verify, any change breaks them, and they expire."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from chalicelib.notify.links import (
    ExpiredLink,
    InvalidLink,
    LinkClaims,
    make_link_token,
    verify_link_token,
)

SECRET = b"test-link-secret-0123456789abcdef"
NOW = 1_700_000_000
CLAIMS = {
    "link_id": "01HZLINK0000000000000000AA",
    "order_id": "01HZORDER000000000000000AA",
    "seller_id": "01HZSELLER00000000000000AA",
    "action": "confirm",
    "expires_at": NOW + 3600,
}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def token(**overrides: object) -> str:
    return make_link_token(SECRET, **{**CLAIMS, **overrides})  # type: ignore[arg-type]


def test_can_round_trip_claims() -> None:
    assert verify_link_token(SECRET, token(), NOW) == LinkClaims(**CLAIMS)  # type: ignore[arg-type]


def test_token_is_url_safe_and_compact() -> None:
    t = token()
    assert quote(t, safe="") == t
    assert len(t) < 200


def test_payload_is_readable_but_holds_only_the_claims() -> None:
    payload = token().split(".")[1]
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert body == [CLAIMS["link_id"], CLAIMS["order_id"], CLAIMS["seller_id"], "confirm", CLAIMS["expires_at"]]


def test_non_ascii_ids_round_trip() -> None:
    claims = verify_link_token(SECRET, token(seller_id="продавец-1"), NOW)
    assert claims.seller_id == "продавец-1"


def test_any_changed_character_makes_the_token_invalid() -> None:
    t = token()
    for i, ch in enumerate(t):
        for replacement in {ALPHABET[(ALPHABET.index(ch) + 1) % len(ALPHABET)], "A" if ch != "A" else "B"}:
            tampered = t[:i] + replacement + t[i + 1 :]
            with pytest.raises(InvalidLink):
                verify_link_token(SECRET, tampered, NOW)


def test_tampered_signature_reports_bad_signature() -> None:
    t = token()
    last = "A" if t[-1] != "A" else "B"
    with pytest.raises(InvalidLink) as err:
        verify_link_token(SECRET, t[:-1] + last, NOW)
    assert err.value.reason == "bad signature"


def test_claims_cannot_be_moved_between_tokens() -> None:
    confirm, cancel = token(action="confirm"), token(action="cancel")
    spliced = ".".join([*cancel.split(".")[:2], confirm.split(".")[2]])
    with pytest.raises(InvalidLink) as err:
        verify_link_token(SECRET, spliced, NOW)
    assert err.value.reason == "bad signature"


def test_error_on_wrong_secret() -> None:
    with pytest.raises(InvalidLink) as err:
        verify_link_token(b"another-secret-0123456789abcdef!", token(), NOW)
    assert err.value.reason == "bad signature"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "v1",
        "v1..",
        "v2.abc.def",
        "not a token",
        token() + ".",
        token()[:-1],
        token() + "A",
        "v1.é." + "A" * 43,
        "x" * 5000,
        None,
        b"v1.abc.def",
    ],
)
def test_error_on_malformed_token(bad: object) -> None:
    with pytest.raises(InvalidLink) as err:
        verify_link_token(SECRET, bad, NOW)  # type: ignore[arg-type]
    assert err.value.reason == "malformed"


def test_expired_token_reports_expiry_with_its_claims() -> None:
    t = token(expires_at=NOW)
    with pytest.raises(ExpiredLink) as err:
        verify_link_token(SECRET, t, NOW)
    assert err.value.claims.order_id == CLAIMS["order_id"]
    assert verify_link_token(SECRET, t, NOW - 1).order_id == CLAIMS["order_id"]


def test_forged_expired_token_is_invalid_not_expired() -> None:
    t = make_link_token(b"attacker-secret-0123456789abcdef", **{**CLAIMS, "expires_at": NOW - 10})  # type: ignore[arg-type]
    with pytest.raises(InvalidLink):
        verify_link_token(SECRET, t, NOW)


def test_action_mismatch_is_visible_in_claims() -> None:
    claims = verify_link_token(SECRET, token(action="cancel"), NOW)
    assert claims.action == "cancel"
    assert claims.action != "confirm"


@pytest.mark.parametrize(
    "overrides",
    [
        {"action": "refund"},
        {"expires_at": True},
        {"expires_at": 0},
        {"expires_at": 1.5},
        {"link_id": ""},
        {"order_id": "x" * 129},
        {"seller_id": None},
    ],
)
def test_error_on_issuing_bad_claims(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        token(**overrides)


@pytest.mark.parametrize("secret", [b"", b"short", "a-str-secret-0123456789abcdef"])
def test_error_on_weak_or_wrong_type_secret(secret: object) -> None:
    with pytest.raises(ValueError):
        make_link_token(secret, **CLAIMS)  # type: ignore[arg-type]
