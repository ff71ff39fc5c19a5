"""Idempotency keys: replay, reuse, in-flight, expiry, and retries after a failure that came
after the business write — on the module and through POST /wallet/topups."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.errors import IdempotencyInFlight, IdempotencyMismatch, PaymentDeclined, Unavailable
from chalicelib.services import idempotency, ledger, payments
from chalicelib.store import idempotency as store
from chalicelib.store import keys

pytestmark = pytest.mark.module_stack  # one moto stack per module (tests/functional/ledger_stack.py)

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": datetime.now(UTC).year + 3, "cvc": "123"}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(idempotency, "_clock", c)
    return c


@pytest.fixture
def key() -> str:
    return f"key-{uuid.uuid4().hex}"


class Handler:
    """A fake route handler that records its runs and the stable id it saw."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.runs: list[str] = []
        self.fail = fail

    def __call__(self) -> tuple[int, str, dict[str, str]]:
        self.runs.append(idempotency.derived_id("thing"))
        if self.fail is not None:
            raise self.fail
        return 201, json.dumps({"run": len(self.runs)}), {"Content-Type": "application/json"}


def run(key: str, handler, fingerprint: str = "fp-1", scope: str = "user-1:POST:/things"):
    return idempotency.run(scope=scope, key=key, fingerprint=fingerprint, execute=handler)


def test_same_key_and_request_replays_the_first_response(aws, key, clock):
    handler = Handler()
    first = run(key, handler)
    again = run(key, handler)
    assert handler.runs and len(handler.runs) == 1
    assert again[:2] == first[:2]
    assert again[2]["Idempotent-Replayed"] == "true"
    assert again[2]["Content-Type"] == "application/json"


def test_error_on_same_key_with_another_request(aws, key, clock):
    run(key, Handler())
    with pytest.raises(IdempotencyMismatch) as err:
        run(key, Handler(), fingerprint="fp-2")
    assert err.value.status == 422
    assert err.value.errors[0]["field"] == "Idempotency-Key"


def test_error_on_same_key_while_the_first_is_in_flight(aws, key, clock):
    inner: list[BaseException] = []

    def slow_first():
        try:
            run(key, Handler())
        except IdempotencyInFlight as err:
            inner.append(err)
        return 200, "{}", {}

    run(key, slow_first)
    assert len(inner) == 1 and inner[0].status == 409
    assert 1 <= inner[0].problem()["retry_after"] <= idempotency.LEASE_SECONDS


def test_a_4xx_frees_the_key_for_a_corrected_retry(aws, key, clock):
    declined = Handler(fail=PaymentDeclined("no", reason="card-declined"))
    with pytest.raises(PaymentDeclined):
        run(key, declined)
    assert store.get("user-1:POST:/things", key) is None
    fixed = Handler()
    assert run(key, fixed, fingerprint="fp-corrected")[0] == 201


@pytest.mark.parametrize("failure", [Unavailable("provider timeout"), RuntimeError("boom")])
def test_a_5xx_keeps_the_request_identity_for_its_retry(aws, key, clock, failure):
    failing = Handler(fail=failure)
    with pytest.raises(type(failure)):
        run(key, failing)
    with pytest.raises(IdempotencyMismatch):  # the key still belongs to that request
        run(key, Handler(), fingerprint="fp-other")
    retry = Handler()
    assert run(key, retry)[0] == 201
    assert retry.runs == failing.runs  # same derived ids: the retry's writes meet the first ones


def test_a_killed_run_is_retried_after_its_lease_expires(aws, key, clock, monkeypatch):
    killed = Handler(fail=KeyboardInterrupt())
    monkeypatch.setattr(store, "release", lambda *a: None)  # killed: no clean-up ran
    with pytest.raises(KeyboardInterrupt):
        run(key, killed)
    with pytest.raises(IdempotencyInFlight):
        run(key, Handler())
    clock.now += idempotency.LEASE_SECONDS + 1
    retry = Handler()
    assert run(key, retry)[0] == 201
    assert retry.runs == killed.runs


def test_keys_are_kept_24_hours_then_start_afresh(aws, key, clock):
    first = Handler()
    run(key, first)
    item = clients.table(settings().idempotency_table).get_item(Key=keys.idempotency("user-1:POST:/things", key))
    assert int(item["Item"]["ttl"]) >= clock.now + 24 * 3600 - 1
    clock.now += 23.9 * 3600
    assert run(key, Handler())[2].get("Idempotent-Replayed") == "true"
    clock.now += 0.2 * 3600
    later = Handler()
    assert run(key, later, fingerprint="fp-other")[0] == 201
    assert later.runs != first.runs  # a new request gets new ids


def test_keys_are_scoped_per_user_and_route(aws, key, clock):
    a, b = Handler(), Handler()
    run(key, a, scope="user-1:POST:/things")
    run(key, b, scope="user-2:POST:/things")
    assert len(a.runs) == len(b.runs) == 1 and a.runs != b.runs


def test_fingerprints_are_stored_sealed(aws, key, clock):
    run(key, Handler(), fingerprint="raw-fingerprint")
    assert store.get("user-1:POST:/things", key).fingerprint not in ("raw-fingerprint", "")


def test_a_run_that_lost_its_lease_still_answers(aws, key, clock, monkeypatch):
    monkeypatch.setattr(store, "complete", lambda *a, **k: False)
    assert run(key, Handler())[0] == 201


def test_error_on_derived_id_outside_a_request():
    with pytest.raises(RuntimeError):
        idempotency.derived_id("x")


# -- through the top-up route ---------------------------------------------------------------


def topup(api, user, key: str, amount: int = 10_000, card: dict | None = None):
    body = {"amount": amount, "currency": "RUB", "card": card or CARD}
    return api.http.post("/wallet/topups", body=json.dumps(body), headers={**user.headers, "Idempotency-Key": key})


class Recording:
    """The sandbox, recording the idempotency keys it was charged with; can fail on cue."""

    def __init__(self, fail_first: Exception | None = None) -> None:
        self.keys: list[str] = []
        self.fail_first = fail_first
        self.name = "sandbox"

    def charge(self, amount, currency, card, idempotency_key):
        self.keys.append(idempotency_key)
        if self.fail_first is not None:
            err, self.fail_first = self.fail_first, None
            raise err
        return payments.SandboxProvider().charge(amount, currency, card, idempotency_key)


@pytest.fixture
def provider(monkeypatch) -> Recording:
    fake = Recording()
    monkeypatch.setattr(payments, "_override", fake)
    return fake


def test_topup_replay_returns_the_same_body_and_credits_once(api, register, key, provider):
    user = register("customer")
    first, again = topup(api, user, key), topup(api, user, key)
    assert first.status_code == again.status_code == 201
    assert first.body == again.body
    assert ledger.wallet(user.id)["available"] == 10_000


def test_error_on_topup_key_reused_for_another_amount(api, register, key, provider):
    user = register("customer")
    assert topup(api, user, key).status_code == 201
    resp = topup(api, user, key, amount=20_000)
    assert resp.status_code == 422
    assert resp.json_body["errors"][0]["field"] == "Idempotency-Key"
    assert ledger.wallet(user.id)["available"] == 10_000


@pytest.mark.parametrize("header,reason", [(None, "required"), ("x" * 129, "8-128"), ("short", "8-128"),
                                           ("bad key with spaces", "8-128")])
def test_error_on_missing_or_malformed_idempotency_key(api, register, header, reason, provider):
    user = register("customer")
    headers = dict(user.headers)
    if header is not None:
        headers["Idempotency-Key"] = header
    body = json.dumps({"amount": 10_000, "card": CARD})
    resp = api.http.post("/wallet/topups", body=body, headers=headers)
    assert resp.status_code == 422
    assert resp.json_body["errors"][0]["field"] == "Idempotency-Key"
    assert reason in resp.json_body["errors"][0]["reason"]
    assert not provider.keys


def test_crash_after_the_ledger_write_is_retried_without_double_credit(api, register, key, provider, monkeypatch):
    user = register("customer")
    real_complete = store.complete
    crashes = iter([True])

    def complete_crashing_once(*args, **kwargs):
        if next(crashes, False):
            raise ConnectionError("lost the connection after the business write")
        return real_complete(*args, **kwargs)

    monkeypatch.setattr(store, "complete", complete_crashing_once)
    first = topup(api, user, key)
    assert first.status_code == 500
    assert ledger.wallet(user.id)["available"] == 10_000  # written before the crash

    retry = topup(api, user, key)
    assert retry.status_code == 201
    assert ledger.wallet(user.id)["available"] == 10_000  # not twice
    assert len(set(provider.keys)) == 1  # the provider saw one charge, asked twice


def test_killed_topup_is_retried_after_its_lease_without_double_credit(api, register, key, provider, monkeypatch,
                                                                      clock):
    user = register("customer")
    monkeypatch.setattr(store, "complete", lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed")))
    monkeypatch.setattr(store, "release", lambda *a: None)
    with pytest.raises(SystemExit):
        topup(api, user, key)
    monkeypatch.undo()
    monkeypatch.setattr(payments, "_override", provider)
    monkeypatch.setattr(idempotency, "_clock", clock)
    assert topup(api, user, key).status_code == 409
    clock.now += idempotency.LEASE_SECONDS + 1
    retry = topup(api, user, key)
    assert retry.status_code == 201
    assert ledger.wallet(user.id)["available"] == 10_000
    assert len(set(provider.keys)) == 1


def test_declined_topup_can_be_retried_with_another_card_and_the_same_key(api, register, key, provider):
    user = register("customer")
    declined = topup(api, user, key, card={**CARD, "number": payments.DECLINED})
    assert declined.status_code == 402
    assert topup(api, user, key).status_code == 201
    assert ledger.wallet(user.id)["available"] == 10_000


def test_topup_after_provider_outage_reuses_the_charge_key(api, register, key, provider):
    user = register("customer")
    provider.fail_first = Unavailable("provider timed out")
    assert topup(api, user, key).status_code == 503
    assert topup(api, user, key).status_code == 201
    assert len(provider.keys) == 2 and len(set(provider.keys)) == 1
    assert ledger.wallet(user.id)["available"] == 10_000
