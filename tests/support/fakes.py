"""In-memory fakes of the adapters' ports (``chalicelib/adapters``), for service tests that
run with no AWS at all — not even moto.

Each fake keeps what a test wants to look at (executions, sent emails, objects, identities)
in plain attributes, answers as the real adapter does (the same return values and domain
errors), and fails on demand: ``fake.fail_next("start", DependencyUnavailable(...), times=2)``
makes the next two ``start`` calls raise that error. ``install`` puts a fake in place of the
real adapter the way the services find it (the adapters' setters).
"""

from __future__ import annotations

import io
import itertools
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import IO, Any

from chalicelib.adapters import feed_objects, identity, mailer, stepfunctions
from chalicelib.adapters.feed_objects import FeedObject, UploadForm
from chalicelib.adapters.identity import Tokens
from chalicelib.adapters.mailer import Email
from chalicelib.errors import AlreadyExists, DependencyFailed, Gone, Unauthorized, ValidationFailed


class Scripted:
    """Failures on demand, per operation, in the order they were asked for."""

    def __init__(self) -> None:
        self._failures: dict[str, list[BaseException]] = defaultdict(list)
        self.calls: list[str] = []

    def fail_next(self, operation: str, error: BaseException, *, times: int = 1) -> None:
        self._failures[operation] += [error] * times

    def _call(self, operation: str) -> None:
        self.calls.append(operation)
        if self._failures[operation]:
            raise self._failures[operation].pop(0)


# --- Step Functions ----------------------------------------------------------------------------


@dataclass
class Execution:
    input: dict[str, Any]
    status: str = "RUNNING"


class FakeStateMachine(Scripted):
    """Executions by name; tasks that wait (by token) and the answers they got."""

    def __init__(self) -> None:
        super().__init__()
        self.executions: dict[str, Execution] = {}
        self.waiting: set[str] = set()
        self.answers: dict[str, dict[str, Any]] = {}

    def start(self, name: str, input_: dict[str, Any]) -> bool:
        self._call("start")
        if name in self.executions:
            return False
        self.executions[name] = Execution(dict(input_))
        return True

    def status(self, name: str) -> str:
        self._call("status")
        if name not in self.executions:
            raise DependencyFailed(stepfunctions.SYSTEM, "ExecutionDoesNotExist")
        return self.executions[name].status

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        self._call("succeed")
        return self._answer(task_token, {"output": output})

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        self._call("fail")
        return self._answer(task_token, {"error": error, "cause": cause})

    def _answer(self, task_token: str, answer: dict[str, Any]) -> bool:
        if task_token not in self.waiting:
            return False  # timed out, or answered already
        self.waiting.discard(task_token)
        self.answers[task_token] = answer
        return True

    # what the state machine does on its own
    def waits(self, task_token: str) -> None:
        self.waiting.add(task_token)

    def ends(self, name: str, status: str) -> None:
        self.executions[name].status = status


# --- the mailer --------------------------------------------------------------------------------


class FakeMailer(Scripted):
    """Emails the provider took (with their message ids) and the copies kept after."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[Email, str]] = []
        self.copies: list[tuple[Email, str]] = []
        self._ids = itertools.count(1)

    def send(self, email: Email) -> str:
        self._call("send")
        message_id = f"fake-message-{next(self._ids)}"
        self.sent.append((email, message_id))
        return message_id

    def keep_copy(self, email: Email, message_id: str) -> None:
        self._call("keep_copy")
        self.copies.append((email, message_id))

    def to(self, address: str) -> list[Email]:
        return [email for email, _ in self.sent if email.to == address]


# --- feed objects ------------------------------------------------------------------------------


@dataclass
class _Stored:
    body: bytes
    obj: FeedObject
    content_type: str = "application/octet-stream"


class FakeFeedObjects(Scripted):
    """Objects by (bucket, key); every write is a new version with a new ETag."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[tuple[str, str], _Stored] = {}
        self._versions = itertools.count(1)

    def put(self, bucket: str, key: str, body: bytes, content_type: str = "application/octet-stream") -> FeedObject:
        """A seller (or this app) writes an object."""
        n = next(self._versions)
        obj = FeedObject(bucket, key, etag=f"etag-{n}", version=f"v{n}", size=len(body),
                         last_modified=f"2025-01-01T00:00:{n % 60:02d}.000000+00:00")
        self.objects[bucket, key] = _Stored(body, obj, content_type)
        return obj

    def head(self, bucket: str, key: str) -> FeedObject | None:
        self._call("head")
        stored = self.objects.get((bucket, key))
        return None if stored is None else stored.obj

    def open(self, obj: FeedObject) -> IO[bytes]:
        self._call("open")
        stored = self.objects.get((obj.bucket, obj.key))
        if stored is None or stored.obj.etag != obj.etag:
            raise Gone(f"{obj.key} was replaced or deleted")
        return io.BytesIO(stored.body)

    def upload(self, bucket: str, key: str, body: IO[bytes], content_type: str) -> None:
        self._call("upload")
        self.put(bucket, key, body.read(), content_type)

    def upload_form(self, bucket: str, key: str, expires_in: int, max_bytes: int) -> UploadForm:
        self._call("upload_form")
        return UploadForm(f"https://fake-s3.test/{bucket}", {"key": key, "max_bytes": str(max_bytes)})

    def download_url(self, bucket: str, key: str, expires_in: int) -> str:
        self._call("download_url")
        return f"https://fake-s3.test/{bucket}/{key}?method=GET&expires_in={expires_in}"

    def body(self, bucket: str, key: str) -> bytes:
        return self.objects[bucket, key].body


# --- the identity provider ---------------------------------------------------------------------


@dataclass
class Identity:
    user_id: str
    password: str
    name: str
    confirmed: bool = False
    groups: set[str] = field(default_factory=set)


class FakeIdentityProvider(Scripted):
    """Identities by email; a password policy of at least 8 characters, as the pool's."""

    MIN_PASSWORD = 8

    def __init__(self) -> None:
        super().__init__()
        self.identities: dict[str, Identity] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> email
        self.signed_out: list[str] = []
        self._ids = itertools.count(1)

    def sign_up(self, email: str, password: str, name: str) -> str:
        self._call("sign_up")
        if email in self.identities:
            raise AlreadyExists("this email is already registered",
                                errors=[{"field": "email", "reason": "already registered"}])
        if len(password) < self.MIN_PASSWORD:
            raise ValidationFailed.one("password", "does not meet the password policy")
        self.identities[email] = Identity(f"user-{next(self._ids)}", password, name, confirmed=True)
        return self.identities[email].user_id

    def confirm(self, email: str) -> None:
        self._call("confirm")
        self.identities[email] = replace(self.identities[email], confirmed=True)

    def add_to_group(self, email: str, group: str) -> None:
        self._call("add_to_group")
        self.identities[email].groups.add(group)

    def delete(self, email: str) -> None:
        self._call("delete")
        self.identities.pop(email, None)

    def set_password(self, email: str, password: str) -> None:
        self._call("set_password")
        if len(password) < self.MIN_PASSWORD:
            raise ValidationFailed.one("password", "does not meet the password policy")
        self.identities[email] = replace(self.identities[email], password=password)

    def sign_out_everywhere(self, email: str) -> None:
        self._call("sign_out_everywhere")
        self.refresh_tokens = {t: e for t, e in self.refresh_tokens.items() if e != email}

    def user_id_of(self, email: str) -> str | None:
        self._call("user_id_of")
        who = self.identities.get(email)
        return who.user_id if who else None

    def password_login(self, email: str, password: str) -> Tokens:
        self._call("password_login")
        who = self.identities.get(email)
        if who is None or not who.confirmed or who.password != password:
            raise Unauthorized("invalid email or password")
        refresh_token = f"refresh-{who.user_id}-{next(self._ids)}"
        self.refresh_tokens[refresh_token] = email
        return Tokens(f"access-{who.user_id}", refresh_token, 3600)

    def refresh(self, refresh_token: str) -> Tokens:
        self._call("refresh")
        email = self.refresh_tokens.get(refresh_token)
        if email is None or email not in self.identities:
            raise Unauthorized("invalid or revoked refresh token")
        return Tokens(f"access-{self.identities[email].user_id}", None, 3600)

    def sign_out(self, access_token: str) -> None:
        self._call("sign_out")
        self.signed_out.append(access_token)


# --- wiring ------------------------------------------------------------------------------------

_SETTERS = {
    FakeStateMachine: stepfunctions.set_state_machine,
    FakeMailer: mailer.set_mailer,
    FakeFeedObjects: feed_objects.set_feed_objects,
    FakeIdentityProvider: identity.set_identity_provider,
}


def install(fake: Scripted) -> None:
    """Serve ``fake`` to the services in place of the real adapter."""
    _SETTERS[type(fake)](fake)


def uninstall_all() -> None:
    """Every port back to its real adapter."""
    for setter in _SETTERS.values():
        setter(None)
