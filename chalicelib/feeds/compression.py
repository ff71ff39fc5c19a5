"""Unwrapping: plain, gzip and zip feeds become one capped, streaming byte reader.

The container is detected by magic bytes (`1F 8B`, `PK 03 04`), not trusted from the name. Zip
archives are read front to back from their local headers, so a non-seekable S3 body streams
too: `__MACOSX/` entries, dot-files and directories are skipped, exactly one feed file is
allowed (a second one is detected when the first is exhausted, which may be after rows were
yielded - see the package docstring), encrypted entries and exotic methods are refused.
Every byte handed to a parser is counted; past `max_bytes` the read raises FeedFileError, so a
gzip/zip bomb costs at most one read buffer of memory and is stopped while streaming.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Callable
from typing import BinaryIO

from .model import FeedFileError

_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_LOCAL = b"PK\x03\x04"
_ZIP_END_MARKERS = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07")


class _Source:
    """The caller's stream with push-back (zip entries end in the middle of a read)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._pushed = b""

    def read(self, size: int = _CHUNK) -> bytes:
        if self._pushed:
            data, self._pushed = self._pushed[:size], self._pushed[size:]
            if len(data) < size:
                data += self._stream.read(size - len(data)) or b""
            return data
        return self._stream.read(size) or b""

    def read_exact(self, size: int) -> bytes:
        parts, missing = [], size
        while missing:
            data = self.read(missing)
            if not data:
                break
            parts.append(data)
            missing -= len(data)
        return b"".join(parts)

    def unread(self, data: bytes) -> None:
        self._pushed = data + self._pushed


class _Capped(io.RawIOBase):
    """Counts bytes delivered and turns decompression errors into FeedFileError."""

    def __init__(self, read: Callable[[int], bytes], max_bytes: int, what: str) -> None:
        self._read = read
        self._max = max_bytes
        self._what = what
        self.delivered = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        try:
            data = self._read(min(len(buffer), _CHUNK))
        except FeedFileError:
            raise
        except (OSError, EOFError, zlib.error) as exc:
            raise FeedFileError(f"{self._what} data is corrupt: {exc}") from exc
        self.delivered += len(data)
        if self.delivered > self._max:
            raise FeedFileError(
                f"feed is larger than {self._max} bytes after decompression (compression bomb?)"
            )
        buffer[: len(data)] = data
        return len(data)


def _is_junk(name: str) -> bool:
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return name.endswith("/") or name.startswith("__MACOSX/") or base.startswith(".") or not base


class _ZipStream:
    """Sequential reader of a zip's local entries; exposes the single feed entry's bytes."""

    def __init__(self, source: _Source, max_bytes: int) -> None:
        self._source = source
        self._max = max_bytes
        self._spent = 0
        self._entry: dict | None = None
        while True:
            entry = self._next_header()
            if entry is None:
                raise FeedFileError("zip archive holds no feed file")
            if _is_junk(entry["name"]):
                self._drain(entry)
                continue
            self._entry = entry
            self.name = entry["name"]
            break

    def _next_header(self) -> dict | None:
        signature = self._source.read_exact(4)
        if not signature or signature in _ZIP_END_MARKERS:
            return None
        if signature != _ZIP_LOCAL:
            raise FeedFileError("zip archive is corrupt (bad local header)")
        header = self._source.read_exact(26)
        if len(header) != 26:
            raise FeedFileError("zip archive is truncated")
        _, flags, method, _, _, _, csize, _, name_len, extra_len = struct.unpack("<HHHHHIIIHH", header)
        name = self._source.read_exact(name_len).decode("utf-8" if flags & 0x800 else "cp437", "replace")
        self._source.read_exact(extra_len)
        if flags & 0x1:
            raise FeedFileError(f"zip entry {name!r} is encrypted")
        if method not in (0, 8):
            raise FeedFileError(f"zip entry {name!r} uses unsupported compression method {method}")
        if method == 0 and (flags & 0x8 or csize == 0xFFFFFFFF):
            raise FeedFileError(f"zip entry {name!r} is stored without a known size")
        entry = {"name": name, "flags": flags, "method": method, "remaining": csize, "done": False}
        entry["inflater"] = zlib.decompressobj(-15) if method == 8 else None
        return entry

    def _entry_read(self, entry: dict, size: int) -> bytes:
        if entry["done"]:
            return b""
        if entry["method"] == 0:
            data = self._source.read(min(size, entry["remaining"]))
            if not data and entry["remaining"]:
                raise FeedFileError("zip archive is truncated")
            entry["remaining"] -= len(data)
            if entry["remaining"] == 0:
                self._finish(entry)
            return data
        inflater = entry["inflater"]
        while True:
            if inflater.unconsumed_tail:
                data = inflater.decompress(inflater.unconsumed_tail, size)
            else:
                chunk = self._source.read(_CHUNK)
                if not chunk:
                    raise FeedFileError("zip archive is truncated")
                data = inflater.decompress(chunk, size)
            if inflater.eof:
                self._source.unread(inflater.unused_data)
                self._finish(entry)
                return data
            if data:
                return data

    def _finish(self, entry: dict) -> None:
        entry["done"] = True
        if entry["flags"] & 0x8:
            # Data descriptor: optional signature, crc, sizes (4 or 8 bytes; assume 4 unless zip64).
            head = self._source.read_exact(4)
            size = 12 if head == b"PK\x07\x08" else 8
            self._source.read_exact(size)

    def _drain(self, entry: dict) -> None:
        while True:
            data = self._entry_read(entry, _CHUNK)
            self._spent += len(data)
            if self._spent > self._max:
                raise FeedFileError(f"zip archive is larger than {self._max} bytes after decompression")
            if entry["done"] and not data:
                return

    def read(self, size: int) -> bytes:
        entry = self._entry
        if entry is None:
            return b""
        data = self._entry_read(entry, size)
        if data:
            return data
        # The feed entry is exhausted: everything after it must be junk or the central directory.
        self._entry = None
        while (other := self._next_header()) is not None:
            if not _is_junk(other["name"]):
                raise FeedFileError("zip archive must hold exactly one feed file")
            self._drain(other)
        return b""


def open_feed(stream: BinaryIO, filename: str, max_bytes: int) -> tuple[io.BufferedReader, str]:
    """Return a buffered reader of the feed's own bytes and the name that tells its format."""
    source = _Source(stream)
    head = source.read_exact(4)
    if not head:
        raise FeedFileError("file is empty")
    source.unread(head)
    name = filename.rsplit("/", 1)[-1]
    if head.startswith(_GZIP_MAGIC):
        inner_name = name[:-3] if name.lower().endswith(".gz") else name.rsplit(".", 1)[0]
        if name.lower().endswith(".tgz"):
            raise FeedFileError("tar archives are not supported; upload the feed itself or a .zip")
        gz = gzip.GzipFile(fileobj=source, mode="rb")  # type: ignore[arg-type]
        raw = _Capped(lambda size: gz.read(size), max_bytes, "gzip")
    elif head == _ZIP_LOCAL:
        archive = _ZipStream(source, max_bytes)
        inner_name = archive.name
        raw = _Capped(archive.read, max_bytes, "zip")
    elif head.startswith(b"PK"):
        raise FeedFileError("zip archive is empty or corrupt")
    else:
        inner_name = name
        raw = _Capped(source.read, max_bytes, "feed")
    reader = io.BufferedReader(raw, buffer_size=_CHUNK)
    if not reader.peek(1):
        raise FeedFileError("file is empty")
    return reader, inner_name
