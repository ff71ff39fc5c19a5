"""``make deploy``'s parameters: the first deploy needs the sender and the alarm topic and gets
a placeholder public URL (replaced by the API's own URL once the stack exists); an update
keeps every value it is not given."""

from __future__ import annotations

import argparse

import pytest

from infra import deploy


def args(**given):
    base = {"sender": "", "public_url": "", "alarm_topic": "", "log_retention_days": 0}
    return argparse.Namespace(**{**base, **given})


def as_dict(params):
    return {p["ParameterKey"]: p.get("ParameterValue", "previous" if p.get("UsePreviousValue") else None)
            for p in params}


def test_first_deploy_without_a_public_url_uses_the_placeholder():
    params = as_dict(deploy.parameters(args(sender="no-reply@shop.example", alarm_topic="arn:t"), None))
    assert params == {"SenderEmail": "no-reply@shop.example", "PublicBaseUrl": deploy.PENDING_URL,
                      "AlarmTopicArn": "arn:t"}


@pytest.mark.parametrize("missing", ["sender", "alarm_topic"])
def test_first_deploy_refuses_to_start_without_the_sender_or_the_alarm_topic(missing):
    given = {"sender": "no-reply@shop.example", "alarm_topic": "arn:t"}
    given[missing] = ""
    with pytest.raises(SystemExit, match=missing.replace("_", "-")):
        deploy.parameters(args(**given), None)


def test_an_update_keeps_what_it_is_not_given():
    current = {"SenderEmail": "a@b.c", "PublicBaseUrl": "https://x.example", "AlarmTopicArn": "arn:t",
               "LogRetentionDays": "30"}
    params = as_dict(deploy.parameters(args(public_url="https://shop.example"), current))
    assert params == {"SenderEmail": "previous", "PublicBaseUrl": "https://shop.example",
                      "AlarmTopicArn": "previous", "LogRetentionDays": "previous"}
