"""Step Functions as the order workflow uses it: start an order's execution by name, read its
status, and answer a task that waits for a decision.

Port: ``StateMachine``. The real adapter, ``StepFunctions``, drives the state machine of
``settings().order_state_machine_arn`` (``statemachines/order.asl.json``); ``state_machine()``
returns it, or the replacement installed with ``set_state_machine``.

Answers that are not failures: an execution of that name already exists (``start`` → False:
an earlier attempt or the reconciler started it), and a task that no longer waits
(``succeed`` / ``fail`` → False: it timed out, or another signal used its token first). Any
other failure raises ``errors.DependencyUnavailable`` or ``DependencyFailed`` (``aws.py``).
Task tokens are bearer credentials: they never reach a log or an exception message.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from chalicelib import clients
from chalicelib.adapters import aws
from chalicelib.config import settings

SYSTEM = "Step Functions"
# SendTask* answers for a task that is over: a duplicate or late signal, not a failure.
TASK_GONE = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


class StateMachine(Protocol):
    def start(self, name: str, input_: dict[str, Any]) -> bool:
        """Start the execution ``name`` with ``input_``; False when it already exists."""
        ...

    def status(self, name: str) -> str:
        """``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` or ``ABORTED``."""
        ...

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        """End a waiting task with ``output``; False when the task no longer waits."""
        ...

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        """End a waiting task with an error the state machine can catch; False when it no
        longer waits."""
        ...


class StepFunctions:
    def __init__(self, state_machine_arn: str) -> None:
        self.arn = state_machine_arn

    def start(self, name: str, input_: dict[str, Any]) -> bool:
        try:
            clients.client("stepfunctions").start_execution(stateMachineArn=self.arn, name=name,
                                                            input=json.dumps(input_))
        except clients.AWS_ERRORS as exc:
            if aws.error_code(exc) == "ExecutionAlreadyExists":
                return False
            raise aws.translated(exc, SYSTEM) from None
        return True

    def status(self, name: str) -> str:
        arn = self.arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
        try:
            return str(clients.client("stepfunctions").describe_execution(executionArn=arn)["status"])
        except clients.AWS_ERRORS as exc:
            raise aws.translated(exc, SYSTEM) from None

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        return self._answer("send_task_success", taskToken=task_token, output=json.dumps(output))

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        return self._answer("send_task_failure", taskToken=task_token, error=error, cause=cause)

    @staticmethod
    def _answer(operation: str, **params: str) -> bool:
        try:
            getattr(clients.client("stepfunctions"), operation)(**params)
        except clients.AWS_ERRORS as exc:
            if aws.error_code(exc) in TASK_GONE:
                return False
            raise aws.translated(exc, SYSTEM) from None
        return True


_override: StateMachine | None = None


def state_machine() -> StateMachine:
    """The order state machine: an override (tests, fakes), else Step Functions."""
    if _override is not None:
        return _override
    return StepFunctions(settings().order_state_machine_arn)


def set_state_machine(replacement: StateMachine | None) -> None:
    """Swap the adapter (tests); None restores Step Functions."""
    global _override
    _override = replacement
