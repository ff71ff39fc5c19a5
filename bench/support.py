"""What every benchmark module shares: the emulator's environment and a DynamoDB call counter."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

EMULATOR_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_XRAY_SDK_ENABLED": "false",
    "AWS_EC2_METADATA_DISABLED": "true", "MARKETPLACE_LOCAL": "1",
}


def use_emulator_env(*, in_process: bool = True) -> None:
    """Fake credentials and local settings; ``in_process``: boto3 talks to ``mock_aws``, not to
    an endpoint left in the environment."""
    for key, value in EMULATOR_ENV.items():
        os.environ.setdefault(key, value)
    if in_process:
        os.environ.pop("AWS_ENDPOINT_URL", None)


class CallCounter:
    """A botocore ``before-call.dynamodb.*`` hook counting calls by operation (thread-safe)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.calls[model.name if model is not None else "?"] += 1

    @contextmanager
    def measure(self) -> Iterator[Counter[str]]:
        self.calls.clear()
        yield self.calls
