"""Lazily created, cached boto3 clients and resources; X-Ray patching lives here.

Nothing talks to AWS at import time (``chalice package`` and tests import the app with no
endpoint around), and nothing imports boto3 then either: it is imported with the first client
(~90 ms of a cold start that ``import app`` does not pay; the route that needs it does).
Tests reset the cache with ``reset()`` after pointing the environment at moto.
``AWS_ENDPOINT_URL`` (set by the local stack) sends every client to moto.

``TRANSIENT_CODES`` / ``is_transient``: the one list of AWS error codes that mean "busy or
briefly down, the same call may succeed soon", for every service the app calls.
``AWS_ERRORS``: what a call through these clients raises when AWS says no or does not answer.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError  # botocore's exceptions only: cheap

if TYPE_CHECKING:
    import boto3

_patch_lock = threading.Lock()
_patched = False
_build_lock = threading.RLock()  # re-entrant: a table is built from the resource, it from the session

Built = TypeVar("Built")


def _built_once(make: Callable[..., Built]) -> Callable[..., Built]:
    """``functools.cache`` whose first call per argument runs once. A session or a client takes
    ~50 ms of CPU to build, and a cold process's first listing reads its partitions from up to
    ``listing_read_threads`` threads at once: with a plain cache each of them built its own
    (the first ``GET /products`` of a cold process took ~1.2 s). The others now wait for the
    first; afterwards a read is a dict look-up, no lock."""
    built: dict[tuple[Any, ...], Built] = {}

    @functools.wraps(make)
    def get(*args: Any) -> Built:
        try:
            return built[args]
        except KeyError:
            with _build_lock:
                if args not in built:
                    built[args] = make(*args)
                return built[args]

    get.cache_clear = built.clear  # type: ignore[attr-defined]  # functools.cache's name for it
    return get

_BOTO_CONFIG: dict[str, Any] = {  # botocore.config.Config's arguments
    "retries": {"mode": "standard", "max_attempts": 5},
    "connect_timeout": 5,
    "read_timeout": 30,
    "max_pool_connections": 64,
}


# Throttling and server-side failures of DynamoDB, Cognito, SES and Step Functions (botocore's
# own throttle codes included, ``botocore/retries/standard.py``). botocore's standard retry
# mode has already retried them by the time a caller sees one; what is left to do is to answer
# "retry later" (the HTTP edge and accounts: 503 with Retry-After; a workflow step: retry it).
TRANSIENT_CODES = frozenset({
    # throttles
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "LimitExceededException",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "SlowDown", "PriorRequestNotComplete",
    # the service failed or is busy with the same item
    "InternalServerError", "InternalFailure", "InternalServiceError", "InternalErrorException",
    "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
    "TransactionInProgressException", "TransactionConflictException",
})


# The adapters (``chalicelib/adapters``) turn these into domain errors; the DynamoDB stores still
# let them through, so a service that must outlive a failed store call catches them by this name.
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)


def is_transient(exc: BaseException) -> bool:
    """``exc`` is an AWS error that may pass if the same call is made again shortly."""
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code", "") in TRANSIENT_CODES


def _patch_xray() -> None:
    """Trace every boto3 call. Locally there is no daemon: the stack sets
    ``AWS_XRAY_SDK_ENABLED=false`` so patched calls stay silent (docs/architecture.md, "The local stack")."""
    global _patched
    if os.environ.get("AWS_XRAY_SDK_ENABLED", "true").lower() == "false":
        # The SDK would not patch either; importing it builds its recorder and an X-Ray client
        # (~100 ms of the first request).
        return
    with _patch_lock:
        if _patched:
            return
        from aws_xray_sdk.core import patch

        patch(["boto3", "botocore"])
        _patched = True


@_built_once
def _session() -> boto3.session.Session:
    import boto3

    _patch_xray()
    session = boto3.session.Session()
    from chalicelib import metrics  # (no AWS at import time: the hook only counts)

    session.events.register("after-call.dynamodb", metrics.count_dynamodb_call)
    return session


# Presigned S3 URLs signed with SigV4 sign only the host: the uploader may send any
# Content-Type (SigV2, botocore's default for some endpoints, signs it, so ``curl --data-binary``
# would be refused).
_S3_CONFIG = {**_BOTO_CONFIG, "signature_version": "s3v4"}


@_built_once
def _config(service: str) -> Any:
    from botocore.config import Config

    return Config(**(_S3_CONFIG if service == "s3" else _BOTO_CONFIG))


@_built_once
def client(service: str) -> Any:
    return _session().client(service, config=_config(service), endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))


_conditions_lock = threading.Lock()


def _serialize_condition_building() -> None:
    """boto3 turns ``Key(...)``/``Attr(...)`` conditions into expression strings with one
    placeholder counter (``#n0``, ``:v0``...) per resource, reset at the start of every request
    ("resources are not thread safe", boto3's guide). The listing and search read partitions
    from many threads through the one cached table: a second thread's reset in the middle of a
    request gave a key condition and a filter the same ``:v0``, so the filter compared a price
    with a key string (DynamoDB: the products silently missing; moto: a TypeError). Building a
    request's expressions is a few microseconds of pure Python: done under one lock."""
    from boto3.dynamodb.transform import TransformationInjector

    original = TransformationInjector.inject_condition_expressions
    if getattr(original, "__wrapped__", None) is not None:
        return

    @functools.wraps(original)
    def inject_condition_expressions(self: Any, params: Any, model: Any, **kwargs: Any) -> None:
        with _conditions_lock:
            original(self, params, model, **kwargs)

    TransformationInjector.inject_condition_expressions = inject_condition_expressions  # type: ignore[method-assign]


@_built_once
def dynamodb_resource() -> Any:
    _serialize_condition_building()
    return _session().resource("dynamodb", config=_config("dynamodb"),
                               endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))


@_built_once
def table(name: str) -> Any:
    return dynamodb_resource().Table(name)


def dynamodb() -> Any:
    return client("dynamodb")


def reset() -> None:
    client.cache_clear()
    table.cache_clear()
    dynamodb_resource.cache_clear()
    _session.cache_clear()
