"""Every email names the SES configuration set (``SES_CONFIGURATION_SET``, the template's
``EmailConfigurationSet``) and carries its kind as a message tag: without them SES publishes no
send, bounce or complaint events and the reputation alarms and the dashboard stay empty.

Moto (5.2.5) accepts ``ConfigurationSetName`` and ``EmailTags`` and drops them, so the request
is read where it leaves botocore (``before-call.sesv2.SendEmail``) and the send is checked in
moto's record of sent messages.
"""

from __future__ import annotations

import json

import boto3
import pytest
from moto.backends import get_backend

from chalicelib import clients
from chalicelib.config import settings


@pytest.fixture
def sent(aws):
    """The JSON body of every SendEmail request the app sends during the test (as on the wire)."""
    calls: list[dict] = []

    def record(params, **_):
        calls.append(json.loads(params["body"]))

    events = clients.client("sesv2").meta.events
    events.register("before-call.sesv2.SendEmail", record, unique_id="test-sent-emails")
    yield calls
    events.unregister("before-call.sesv2.SendEmail", unique_id="test-sent-emails")


def _moto_sent_to(address: str) -> list:
    backend = get_backend("ses")["123456789012"]["us-east-1"]
    return [m for m in backend.sent_messages if address in (m.destinations or {}).get("ToAddresses", [])]


def test_an_account_email_is_sent_with_the_configuration_set_and_its_kind(aws, sent, register):
    name = aws["SES_CONFIGURATION_SET"]
    assert boto3.client("sesv2").get_configuration_set(ConfigurationSetName=name)["ConfigurationSetName"] == name
    user = register("customer", verified=False)
    mine = [c for c in sent if c["Destination"]["ToAddresses"] == [user.email]]
    assert len(mine) == 1 and len(_moto_sent_to(user.email)) == 1
    assert mine[0]["ConfigurationSetName"] == name
    assert mine[0]["EmailTags"] == [{"Name": "kind", "Value": "account_verify"}]


def test_without_a_configuration_set_emails_are_sent_without_one(aws, sent, register, monkeypatch):
    monkeypatch.setenv("SES_CONFIGURATION_SET", "")
    settings.cache_clear()
    user = register("customer", verified=False)
    mine = [c for c in sent if c["Destination"]["ToAddresses"] == [user.email]]
    assert len(mine) == 1 and len(_moto_sent_to(user.email)) == 1
    assert "ConfigurationSetName" not in mine[0] and "EmailTags" not in mine[0]
