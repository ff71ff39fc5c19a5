"""The ASL file itself (no IO): every transition lands on a state, every task names a step the
workflow Lambda knows, failures are retried then compensated, waits carry configurable
timeouts, and no task token is handed anywhere but to the workflow function."""

from __future__ import annotations

import json

from chalicelib.services.workflow import STEP_NAMES
from chalicelib.services.workflow.email_plans import PLANS
from infra import resources as res

DEFINITION = res.state_machine_definition()
STATES = DEFINITION["States"]
FUNCTION = "${OrderWorkflowFunctionArn}"


def targets(state: dict) -> list[str]:
    out = [state.get("Next"), state.get("Default")]
    out += [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
    return [t for t in out if t]


def tasks() -> dict[str, dict]:
    return {name: s for name, s in STATES.items() if s["Type"] == "Task"}


def test_every_transition_lands_on_a_state_and_every_state_is_reachable():
    seen, todo = set(), [DEFINITION["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for target in targets(STATES[name]):
            assert target in STATES, f"{name} -> {target}"
            todo.append(target)
    assert seen == set(STATES)
    assert DEFINITION["QueryLanguage"] == "JSONPath"
    assert res.definition_placeholders(DEFINITION) == {"OrderWorkflowFunctionArn"}


def test_every_task_invokes_the_workflow_function_with_a_known_step():
    for name, state in tasks().items():
        assert state["Resource"] in ("arn:aws:states:::lambda:invoke",
                                     "arn:aws:states:::lambda:invoke.waitForTaskToken")
        params = state["Parameters"]
        assert params["FunctionName"] == FUNCTION
        payload = params["Payload"]
        assert payload["step"] in STEP_NAMES, name
        assert payload["order_id.$"] == "$.order_id"
        if payload["step"] == "notify":
            assert payload["event"] in PLANS, name


def test_failures_are_retried_with_backoff_then_compensated():
    for name, state in tasks().items():
        retry = state["Retry"][0]
        assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 3, name
        if name in ("Compensate", "CompensateShipmentTimeout"):
            assert state["Parameters"]["Payload"]["step"] == "compensate", name
            assert state["Catch"][-1]["Next"] == "CompensationFailed"
            assert state["Next"] == "Failed"
            continue
        assert "TransientError" in retry["ErrorEquals"], name
        last = state["Catch"][-1]
        assert last["ErrorEquals"] == ["States.ALL"], name
        if state["Parameters"]["Payload"]["step"] == "notify":
            assert last["Next"] == state["Next"], f"{name}: an email failure must not stop the order"
        else:
            # the shipment timeout's cancel failing still cancels (compensate with timed_out)
            assert last["Next"] == ("CompensateShipmentTimeout" if name == "ShipmentTimeout" else "Compensate"), name
            assert last["ResultPath"] == "$.error"
    assert STATES["CompensateShipmentTimeout"]["Parameters"]["Payload"]["timed_out"] is True
    assert "timed_out" not in STATES["Compensate"]["Parameters"]["Payload"]


def test_waits_park_a_token_with_configurable_timeouts():
    waits = {n: s for n, s in tasks().items() if s["Resource"].endswith(".waitForTaskToken")}
    assert set(waits) == {"AwaitPayment", "AwaitSeller", "AwaitShipment", "AwaitReceipt"}
    for name, state in waits.items():
        assert state["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
        assert "TimeoutSeconds" not in state  # never a constant: configuration decides
    for name, path, on_timeout in (("AwaitPayment", "$.config.payment_timeout", "ExpirePayment"),
                                   ("AwaitSeller", "$.config.seller_timeout", "SellerTimeout"),
                                   ("AwaitShipment", "$.config.shipment_timeout", "ShipmentTimeout"),
                                   ("AwaitReceipt", "$.config.delivery_timeout", "AutoDeliver")):
        assert STATES[name]["TimeoutSecondsPath"] == path
        assert STATES[name]["Catch"][0] == {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": on_timeout}
    text = json.dumps({n: s for n, s in STATES.items() if n not in waits})
    assert "$$.Task.Token" not in text


def test_every_configured_timeout_reaches_the_state_machine():
    selected = STATES["Start"]["ResultSelector"]
    paths = {s["TimeoutSecondsPath"] for s in tasks().values() if "TimeoutSecondsPath" in s}
    assert {f"$.config.{k.removesuffix('.$')}" for k in selected} == paths


def test_an_order_cancelled_while_waiting_for_shipment_takes_the_refund_branch():
    assert STATES["AwaitShipment"]["Next"] == "ShipmentDecided"
    assert STATES["ShipmentTimeout"]["Next"] == "ShipmentDecided"
    assert STATES["ShipmentDecided"]["Next"] == "ShipmentOutcome"
    choices = {c["StringEquals"]: c["Next"] for c in STATES["ShipmentOutcome"]["Choices"]}
    assert choices == {"shipped": "NotifyShipped", "cancelled": "Cancelled"}
    assert STATES["ShipmentOutcome"]["Default"] == "AwaitShipment"
    # the cancel branch is shared: restock, "cancelled" email, refund (release or capture), "refunded"
    assert [STATES[s]["Next"] for s in ("Cancelled", "NotifyCancelled", "Refund")] == [
        "NotifyCancelled", "Refund", "NotifyRefunded"]


# --- the return workflow (statemachines/return.asl.json) ----------------------------------------

RETURN_DEFINITION = res.return_state_machine_definition()
RETURN_STATES = RETURN_DEFINITION["States"]


def test_return_workflow_reaches_every_state_and_invokes_only_its_function_with_known_steps():
    from chalicelib.services.return_steps import STEP_NAMES as RETURN_STEPS

    seen, todo = set(), [RETURN_DEFINITION["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for target in targets(RETURN_STATES[name]):
            assert target in RETURN_STATES, f"{name} -> {target}"
            todo.append(target)
    assert seen == set(RETURN_STATES)
    assert res.definition_placeholders(RETURN_DEFINITION) == {"ReturnWorkflowFunctionArn"}
    for name, state in RETURN_STATES.items():
        if state["Type"] != "Task":
            continue
        assert state["Parameters"]["FunctionName"] == "${ReturnWorkflowFunctionArn}", name
        payload = state["Parameters"]["Payload"]
        assert payload["step"] in RETURN_STEPS and payload["return_id.$"] == "$.return_id", name
        assert "TransientError" in state["Retry"][0]["ErrorEquals"] and state["Retry"][0]["BackoffRate"] > 1, name
        last = state["Catch"][-1]
        assert last["ErrorEquals"] == ["States.ALL"], name
        # an email failure never fails the return; any other failure ends it for the alarm
        assert last["Next"] == (state["Next"] if payload["step"] == "notify_decided" else "Failed"), name


def test_return_workflow_waits_for_the_seller_until_the_deadline_then_accepts():
    wait = RETURN_STATES["AwaitDecision"]
    assert wait["Resource"].endswith(".waitForTaskToken")
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert "TimeoutSeconds" not in wait  # the return's own deadline, computed by the first step
    assert wait["TimeoutSecondsPath"] == "$.config.answer_timeout"
    assert RETURN_STATES["Requested"]["ResultSelector"] == {"answer_timeout.$": "$.Payload.answer_timeout"}
    assert wait["Catch"][0] == {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Deadline"}
    assert RETURN_STATES["Deadline"]["Parameters"]["Payload"]["timed_out"] is True
    choices = {c["StringEquals"]: c["Next"] for c in RETURN_STATES["Outcome"]["Choices"]}
    assert choices == {"accepted": "NotifyDecided", "rejected": "NotifyDecided"}
    waits = {n for n, s in RETURN_STATES.items() if s.get("Resource", "").endswith(".waitForTaskToken")}
    assert waits == {"AwaitDecision"}
    assert "$$.Task.Token" not in json.dumps({n: s for n, s in RETURN_STATES.items() if n not in waits})
