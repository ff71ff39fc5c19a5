"""Handing an order email to the mailer: sent once, retried briefly while the failure may
pass (then ``EmailUnavailable`` for the workflow to retry), never retried once refused."""

from __future__ import annotations

import pytest

from chalicelib.adapters.mailer import SYSTEM, Email
from chalicelib.errors import DependencyFailed, DependencyUnavailable
from chalicelib.services import notifications

EMAIL = Email(to="anna@example.com", subject="Заказ оформлен", html="<p>Спасибо</p>", text="Спасибо",
              kind="order_placed", order_id="o0001", lang="ru")


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(notifications, "BACKOFF_SECONDS", 0)


def test_an_email_the_mailer_takes_is_sent_once(mailer):
    message_id = notifications.deliver(EMAIL)

    assert mailer.sent == [(EMAIL, message_id)]


def test_a_mailer_busy_for_a_moment_still_sends_the_email_once(mailer):
    mailer.fail_next("send", DependencyUnavailable(SYSTEM, "TooManyRequestsException"),
                     times=notifications.ATTEMPTS - 1)

    notifications.deliver(EMAIL)

    assert mailer.to("anna@example.com") == [EMAIL]
    assert mailer.calls.count("send") == notifications.ATTEMPTS


def test_error_on_a_mailer_that_stays_busy_is_email_unavailable(mailer):
    mailer.fail_next("send", DependencyUnavailable(SYSTEM, "TooManyRequestsException"),
                     times=notifications.ATTEMPTS)

    with pytest.raises(notifications.EmailUnavailable, match="TooManyRequestsException"):
        notifications.deliver(EMAIL)

    assert mailer.sent == []
    assert mailer.calls.count("send") == notifications.ATTEMPTS


def test_error_on_a_refused_email_is_email_rejected_at_once(mailer):
    mailer.fail_next("send", DependencyFailed(SYSTEM, "MessageRejected"))

    with pytest.raises(notifications.EmailRejected, match="SES refused the email: MessageRejected"):
        notifications.deliver(EMAIL)

    assert mailer.calls == ["send"]  # retrying cannot help
