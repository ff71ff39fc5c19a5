"""Waking a waiting execution: the parked task token is answered and only then dropped; a
failed answer leaves it parked, so the next attempt (or the wait's timeout) still finds it."""

from __future__ import annotations

import pytest

from chalicelib.adapters.stepfunctions import SYSTEM
from chalicelib.errors import DependencyFailed, DependencyUnavailable
from chalicelib.services.workflow import ResumeFailed, resume, wake
from chalicelib.services.workflow.contract import is_transient
from chalicelib.store import workflow as wf_store

ORDER = "o0190000000000abcdefghijklmnop"
DECISION = {"decision": "confirm", "by": "seller:s1"}


@pytest.fixture
def parked(monkeypatch) -> dict[tuple[str, str], str]:
    """Parked task tokens by (order, wait kind): the store's peek / drop, in memory."""
    tokens: dict[tuple[str, str], str] = {}
    by_wait = {wf_store.order_wait(ORDER, kind)["SK"]: (ORDER, kind) for kind in ("payment", "seller")}
    monkeypatch.setattr(wf_store, "peek_token", lambda wait: tokens.get(by_wait[wait["SK"]]))

    def drop(wait, token):
        if tokens.get(by_wait[wait["SK"]]) == token:
            del tokens[by_wait[wait["SK"]]]

    monkeypatch.setattr(wf_store, "drop_token", drop)
    return tokens


@pytest.fixture
def waiting(state_machine, parked):
    """The seller wait of ORDER is parked and its task is waiting."""
    parked[ORDER, "seller"] = "task-token-1"
    state_machine.waits("task-token-1")
    return state_machine


def test_a_decision_wakes_the_waiting_execution_once(waiting, parked):
    assert resume(ORDER, "seller", DECISION) is True

    assert waiting.answers == {"task-token-1": {"output": DECISION}}
    assert parked == {}
    assert resume(ORDER, "seller", DECISION) is False  # a repeated request: nothing waits any more


def test_nothing_is_woken_when_no_wait_is_parked(state_machine, parked):
    assert resume(ORDER, "payment", DECISION) is False
    assert state_machine.calls == []


def test_a_signal_after_the_wait_ended_changes_nothing(state_machine, parked):
    parked[ORDER, "seller"] = "task-token-1"  # parked, but the task timed out meanwhile

    assert resume(ORDER, "seller", DECISION) is False
    assert state_machine.answers == {}


@pytest.mark.parametrize(("failure", "transient"), [
    (DependencyUnavailable(SYSTEM, "ThrottlingException"), True),
    (DependencyFailed(SYSTEM, "AccessDeniedException"), False),
    (AttributeError("'NoneType' object has no attribute 'callback_pool_manager'"), True),
])
def test_a_failed_wake_up_leaves_the_token_parked(waiting, parked, failure, transient):
    waiting.fail_next("succeed", failure, times=wake.ATTEMPTS if transient else 1)  # every attempt fails

    with pytest.raises(ResumeFailed) as caught:
        resume(ORDER, "seller", DECISION)

    assert parked == {(ORDER, "seller"): "task-token-1"}
    assert caught.value.transient is transient and is_transient(caught.value) is transient
    assert "task-token-1" not in str(caught.value)

    assert resume(ORDER, "seller", DECISION) is True  # the repeated request finishes the job
    assert waiting.answers["task-token-1"] == {"output": DECISION}


def test_a_transient_failure_is_tried_again_within_the_same_request(waiting, parked, monkeypatch):
    """A throttle on the wake-up must not leave the decision to the wait's timeout (days)."""
    monkeypatch.setattr(wake, "BACKOFF_SECONDS", 0)
    waiting.fail_next("succeed", DependencyUnavailable(SYSTEM, "ThrottlingException"), times=wake.ATTEMPTS - 1)

    assert resume(ORDER, "seller", DECISION) is True
    assert waiting.answers == {"task-token-1": {"output": DECISION}}
    assert parked == {}
    assert waiting.calls.count("succeed") == wake.ATTEMPTS


def test_a_lasting_failure_is_not_tried_again(waiting, parked):
    waiting.fail_next("succeed", DependencyFailed(SYSTEM, "AccessDeniedException"))

    with pytest.raises(ResumeFailed):
        resume(ORDER, "seller", DECISION)
    assert waiting.calls.count("succeed") == 1
