"""The sandbox payment provider as the in-process tests drive it (card orders, card returns,
top-ups): the webhooks it sent, collected as it sends them (the ``sent`` fixture), a webhook
signed as it signs them (``signed`` of an ``event``), one delivered through the in-process
client (``deliver``), a form posted to its page (``submit``); and the metrics a test counted
(the ``counted`` fixture). The fixtures are registered in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib import metrics
from chalicelib.adapters import payments_sandbox
from chalicelib.config import settings

Webhook = tuple[str, bytes, dict[str, str]]  # (path, body, headers)


@pytest.fixture
def sent(monkeypatch) -> list[Webhook]:
    """The webhooks the sandbox sent."""
    outbox: list[Webhook] = []

    def capture(url: str, body: bytes, headers: dict[str, str]) -> int:
        outbox.append((local_path(url), body, headers))
        return 200

    monkeypatch.setattr(payments_sandbox, "transport", capture)
    return outbox


@pytest.fixture
def counted(monkeypatch) -> list[tuple[str, str | None]]:
    """The metrics counted during the test: [(name, by)]."""
    seen: list[tuple[str, str | None]] = []
    real = metrics.count

    def count(name, value=1, *, unit="Count", by=None):
        seen.append((name, by))
        real(name, value, unit=unit, by=by)

    monkeypatch.setattr(metrics, "count", count)
    return seen


def local_path(url: str) -> str:
    """A URL of the app (a confirmation page, a webhook's target) as the in-process client's path."""
    return url.removeprefix(settings().public_base_url)


def event(payment_id: str, status: str, amount: int, currency: str = "RUB", **metadata: str) -> dict[str, Any]:
    """A provider's event about one payment (``metadata``: the order's or the top-up's id)."""
    return {"id": f"evt-{uuid.uuid4().hex}", "type": f"payment.{status}",
            "payment": {"id": payment_id, "status": status, "amount": {"amount": amount, "currency": currency},
                        "metadata": metadata}}


def signed(body: dict[str, Any]) -> Webhook:
    raw = json.dumps(body).encode()
    return ("/payments/webhooks/sandbox", raw,
            {"Content-Type": "application/json", "Sandbox-Signature": payments_sandbox.sign(raw)})


def deliver(api, webhook: Webhook, body: bytes | None = None, signature: str | None = None):
    """POST the webhook as the sandbox would (``body`` / ``signature``: altered on the way)."""
    path, raw, headers = webhook
    headers = dict(headers)
    if signature is not None:
        headers["Sandbox-Signature"] = signature
    return api.http.post(path, body=raw if body is None else body, headers=headers)


def submit(api, path: str, **form: str):
    """Post the sandbox page's form, as the browser would."""
    return api.http.post(path, body=urlencode(form), headers={"Content-Type": "application/x-www-form-urlencoded"})
