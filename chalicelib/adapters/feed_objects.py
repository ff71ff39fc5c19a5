"""Feed objects in S3: what the feed import reads and writes, and the URLs sellers use.

Port: ``FeedObjects``. ``head`` describes an object (None when there is none), ``open`` streams
exactly the version ``head`` saw (``IfMatch`` on its ETag, and its ``VersionId``), ``upload``
writes a report, ``download_url`` presigns a GET (SigV4), ``upload_form`` presigns a browser-style
POST whose policy fixes the key and bounds the size (S3 refuses a file outside
``content-length-range``). Sellers get no presigned PUT: a PUT cannot carry such a bound. The
real adapter is ``S3FeedObjects``; ``feed_objects()`` returns it, or the replacement installed
with ``set_feed_objects``.

An object replaced or deleted after ``head`` makes ``open`` raise ``errors.Gone``; any other
failure raises ``errors.DependencyUnavailable`` or ``DependencyFailed`` (``aws.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import IO, Any, Protocol

from chalicelib import clients
from chalicelib.adapters import aws
from chalicelib.errors import Gone

SYSTEM = "S3"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_CHANGED = frozenset({"PreconditionFailed", "412", "NoSuchKey", "NoSuchVersion"})


@dataclass(frozen=True)
class FeedObject:
    bucket: str
    key: str
    etag: str
    version: str | None
    size: int
    last_modified: str  # ISO 8601, UTC, microseconds

    @property
    def filename(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class UploadForm:
    """Where to POST the file (``multipart/form-data``) and the fields to send before it."""

    url: str
    fields: dict[str, str]


class FeedObjects(Protocol):
    def head(self, bucket: str, key: str) -> FeedObject | None:
        ...

    def open(self, obj: FeedObject) -> IO[bytes]:
        """The bytes of exactly that version; ``Gone`` when it was replaced or deleted."""
        ...

    def upload(self, bucket: str, key: str, body: IO[bytes], content_type: str) -> None:
        ...

    def upload_form(self, bucket: str, key: str, expires_in: int, max_bytes: int) -> UploadForm:
        """A presigned POST for exactly ``key``, 1 to ``max_bytes`` bytes."""
        ...

    def download_url(self, bucket: str, key: str, expires_in: int) -> str:
        ...


class S3FeedObjects:
    def head(self, bucket: str, key: str) -> FeedObject | None:
        try:
            head = clients.client("s3").head_object(Bucket=bucket, Key=key)
        except clients.AWS_ERRORS as exc:
            if aws.error_code(exc) in _MISSING:
                return None
            raise aws.translated(exc, SYSTEM) from None
        modified = head["LastModified"].astimezone(UTC).isoformat(timespec="microseconds")
        return FeedObject(bucket, key, head["ETag"].strip('"'), head.get("VersionId"), int(head["ContentLength"]),
                          modified)

    def open(self, obj: FeedObject) -> IO[bytes]:
        kwargs: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key, "IfMatch": obj.etag}
        if obj.version:
            kwargs["VersionId"] = obj.version
        try:
            return clients.client("s3").get_object(**kwargs)["Body"]
        except clients.AWS_ERRORS as exc:
            if aws.error_code(exc) in _CHANGED:
                raise Gone(f"{obj.key} was replaced or deleted") from None
            raise aws.translated(exc, SYSTEM) from None

    def upload(self, bucket: str, key: str, body: IO[bytes], content_type: str) -> None:
        try:
            clients.client("s3").upload_fileobj(body, bucket, key, ExtraArgs={"ContentType": content_type})
        except clients.AWS_ERRORS as exc:
            raise aws.translated(exc, SYSTEM) from None

    def upload_form(self, bucket: str, key: str, expires_in: int, max_bytes: int) -> UploadForm:
        try:  # signs locally; botocore adds the bucket and ``key`` (eq) conditions itself
            post = clients.client("s3").generate_presigned_post(
                bucket, key, Conditions=[["content-length-range", 1, max_bytes]], ExpiresIn=expires_in)
        except clients.AWS_ERRORS as exc:
            raise aws.translated(exc, SYSTEM) from None
        return UploadForm(str(post["url"]), {str(k): str(v) for k, v in post["fields"].items()})

    def download_url(self, bucket: str, key: str, expires_in: int) -> str:
        return self._presign("get_object", bucket, key, expires_in)

    @staticmethod
    def _presign(operation: str, bucket: str, key: str, expires_in: int) -> str:
        try:  # signs locally; fails only without credentials or on a bad parameter
            return str(clients.client("s3").generate_presigned_url(
                operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in))
        except clients.AWS_ERRORS as exc:
            raise aws.translated(exc, SYSTEM) from None


_override: FeedObjects | None = None


def feed_objects() -> FeedObjects:
    """The feed objects' store: an override (tests, fakes), else S3."""
    return _override if _override is not None else S3FeedObjects()


def set_feed_objects(replacement: FeedObjects | None) -> None:
    """Swap the adapter (tests); None restores S3."""
    global _override
    _override = replacement
