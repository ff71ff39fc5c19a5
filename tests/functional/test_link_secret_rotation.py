"""The link secret on AWS: read at run time from Secrets Manager (moto), and rotation-safe —
a link signed with the previous value still opens during the rotation window, not after."""

from __future__ import annotations

import time

import boto3
import pytest

from chalicelib.adapters import secrets
from chalicelib.config import settings
from chalicelib.notify import links


@pytest.fixture
def secret(aws, monkeypatch):
    sm = boto3.client("secretsmanager")
    arn = sm.create_secret(Name="marketplace-test-link-secret", SecretString="first-value-0123456789abcdef")["ARN"]
    monkeypatch.delenv("LINK_SECRET", raising=False)
    monkeypatch.setenv("LINK_SECRET_ID", arn)
    monkeypatch.setenv("LINK_TTL_SECONDS", "3600")
    settings.cache_clear()
    secrets.forget()
    yield sm, arn
    secrets.forget()
    settings.cache_clear()


def token(secret: bytes) -> str:
    return links.make_link_token(secret, link_id="l1", order_id="o01abc", seller_id="s1", action="confirm",
                                 expires_at=int(time.time()) + 600)


def opens(tok: str) -> bool:
    from chalicelib.services.action_pages import _verify

    try:
        _verify(settings().link_secrets, tok)
    except links.LinkError:
        return False
    return True


def test_the_value_is_read_from_secrets_manager_not_the_environment(secret):
    assert settings().link_secret == b"first-value-0123456789abcdef"
    assert opens(token(b"first-value-0123456789abcdef"))
    assert not opens(token(b"some-other-value-0123456789abcdef"))


def test_a_rotation_keeps_old_links_working_for_the_window_and_not_after(secret, monkeypatch):
    sm, arn = secret
    old_link = token(settings().link_secret)
    sm.put_secret_value(SecretId=arn, SecretString="second-value-0123456789abcdef")  # rotation: first → AWSPREVIOUS
    secrets.forget()  # (a container sees it within CACHE_SECONDS)

    assert settings().link_secret == b"second-value-0123456789abcdef"  # new links use the new value
    assert opens(token(b"second-value-0123456789abcdef"))
    assert opens(old_link)  # the window: the current value is younger than the links' lifetime

    monkeypatch.setenv("LINK_TTL_SECONDS", "0")  # the window is over
    settings.cache_clear()
    secrets.forget()
    assert not opens(old_link)
    assert opens(token(b"second-value-0123456789abcdef"))
