"""What every adapter does with a failed AWS call: one rule for "this may pass", and the domain
error the failure becomes.

A failed call may pass when the service was busy (a code of ``clients.TRANSIENT_CODES``, the one
table), failed on its side (an HTTP 5xx) or did not answer at all (a botocore connection or
timeout error; botocore's own retries are already spent). It becomes
``errors.DependencyUnavailable``; any other refusal becomes ``errors.DependencyFailed``. Both
keep the error's code and drop its message, which may quote what was sent.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import clients
from chalicelib.errors import DependencyFailed, DependencyUnavailable


def error_code(exc: BaseException) -> str:
    """AWS's error code (``ThrottlingException``), a translated failure's code, or else the
    exception's class name (``EndpointConnectionError``)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return str(getattr(exc, "code", "") or type(exc).__name__)


def may_pass(exc: BaseException) -> bool:
    """The same call may succeed shortly: busy, failed on the service's side, or no answer."""
    if isinstance(exc, BotoCoreError):
        return True
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return clients.is_transient(exc) or status >= 500
    return False


def translated(exc: BaseException, system: str) -> DependencyUnavailable | DependencyFailed:
    """The domain error for a failed call to ``system`` (raise it ``from None``: the AWS error's
    message must not reach a log through the exception chain)."""
    if may_pass(exc):
        return DependencyUnavailable(system, error_code(exc))
    return DependencyFailed(system, error_code(exc))
