"""Fetching a seller's feed from its URL, safely (the marketplace makes the request itself).

``fetch(url, policy, etag=…, last_modified=…)`` returns a ``Fetched`` (the body spooled to a
temporary file, or ``not_modified``) or raises ``FetchRefused`` with a reason a seller can
read. What makes it safe to point at any URL a seller types:

* **Scheme.** https; plain http only when the policy allows it (the local stage).
* **Addresses, not names.** The host is resolved first and every address it resolves to must
  be public: private, loopback, link-local (incl. the cloud metadata address 169.254.169.254
  and ``fd00:ec2::254``), shared (100.64/10), multicast, reserved and unspecified addresses
  are refused (loopback only when the policy allows it). The connection then goes to the
  address that was checked — the name is not resolved again, so a DNS answer that changes
  between the check and the connect (DNS rebinding) cannot reach an internal host. TLS still
  verifies the certificate for the host name (SNI + hostname check).
* **Redirects** are followed by hand (at most ``max_redirects``), each target checked again
  exactly like the first URL.
* **Limits.** A connect and read timeout per socket operation and a total deadline for the
  whole download (a server trickling bytes is cut off); a size cap checked against
  Content-Length and again while bytes arrive; a body shorter than its Content-Length (the
  file changed or the connection broke mid-transfer) is refused.
* **Conditional GET.** ``If-None-Match`` / ``If-Modified-Since`` from the previous fetch; 304
  means unchanged.

urllib3 ships with botocore (the Lambda runtime provides it; ``infra/slim.py``), so this
adds nothing to the package; it is imported by the first fetch, not with the app.
"""

from __future__ import annotations

import ipaddress
import socket
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

CHUNK = 64 * 1024
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_USER_AGENT = "marketplace-feed-fetcher/1.0"


class FetchRefused(Exception):  # noqa: N818 - a refusal with a reason, not a crash
    """The URL or the response is refused; ``reason`` is for the seller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FetchPolicy:
    allow_http: bool = False
    allow_loopback: bool = False
    max_bytes: int = 512 * 1024 * 1024
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    total_seconds: float = 300.0
    max_redirects: int = 5


@dataclass
class Fetched:
    not_modified: bool
    url: str  # after redirects
    body: IO[bytes] | None = None
    size: int = 0
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None


Resolver = Any  # (host, port) -> list of IP address strings; tests swap in a fake resolver


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, policy: FetchPolicy) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path_and_query)`` of an acceptable URL, or ``FetchRefused``."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchRefused(f"the URL is not valid: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise FetchRefused("the URL must start with https://")
    if scheme == "http" and not policy.allow_http:
        raise FetchRefused("the URL must use https")
    if not parts.hostname:
        raise FetchRefused("the URL has no host")
    if parts.username or parts.password:
        raise FetchRefused("the URL must not carry a user name or password")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def address_refusal(address: str, policy: FetchPolicy) -> str | None:
    """Why this resolved address may not be fetched from, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_loopback:
        return None if policy.allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified or not ip.is_global:
        return "a private or reserved address"
    return None


def _resolve(host: str, port: int, policy: FetchPolicy, resolver: Resolver) -> str:
    try:
        addresses = [host] if _is_ip(host) else resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchRefused(f"the host {host!r} could not be resolved") from exc
    if not addresses:
        raise FetchRefused(f"the host {host!r} could not be resolved")
    for address in addresses:  # every answer must be acceptable: any one of them may be used
        if why := address_refusal(address, policy):
            raise FetchRefused(f"the host {host!r} resolves to {why}; only public addresses are fetched")
    return addresses[0]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def fetch(url: str, policy: FetchPolicy, *, etag: str | None = None, last_modified: str | None = None,
          resolver: Resolver = _system_resolver) -> Fetched:
    deadline = time.monotonic() + policy.total_seconds
    current = url
    for _hop in range(policy.max_redirects + 1):
        scheme, host, port, path = check_url(current, policy)
        address = _resolve(host, port, policy, resolver)
        response = _request(scheme, host, port, path, address, policy, deadline, etag, last_modified)
        if response.status in (301, 302, 303, 307, 308):
            location = response.headers.get("Location")
            response.release_conn()
            if not location:
                raise FetchRefused(f"HTTP {response.status} without a Location header")
            current = urljoin(current, location)
            continue
        try:
            return _result(response, current, policy, deadline)
        finally:
            response.release_conn()
    raise FetchRefused(f"more than {policy.max_redirects} redirects")


def _request(scheme: str, host: str, port: int, path: str, address: str, policy: FetchPolicy, deadline: float,
             etag: str | None, last_modified: str | None) -> Any:
    import urllib3

    timeout = urllib3.Timeout(connect=policy.connect_timeout, read=policy.read_timeout)
    default_port = 443 if scheme == "https" else 80
    headers = {"Host": host if port == default_port else f"{host}:{port}", "User-Agent": _USER_AGENT,
               "Accept-Encoding": "identity"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    if scheme == "https":
        pool: Any = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1,
                                                server_hostname=host, assert_hostname=host,
                                                cert_reqs="CERT_REQUIRED")
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
    if time.monotonic() > deadline:
        raise FetchRefused(f"the download took longer than {policy.total_seconds:g} seconds")
    try:
        return pool.urlopen("GET", path, headers=headers, redirect=False, preload_content=False,
                            enforce_content_length=True)
    except urllib3.exceptions.SSLError as exc:
        raise FetchRefused(f"TLS failed for {host!r}: the certificate is not valid for it") from exc
    except urllib3.exceptions.TimeoutError as exc:
        raise FetchRefused(f"{host!r} did not answer in time") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise FetchRefused(f"could not connect to {host!r}: {type(exc).__name__}") from exc


def _result(response: Any, url: str, policy: FetchPolicy, deadline: float) -> Fetched:
    import urllib3

    if response.status == 304:
        return Fetched(True, url, etag=response.headers.get("ETag"),
                       last_modified=response.headers.get("Last-Modified"))
    if response.status != 200:
        raise FetchRefused(f"the server answered HTTP {response.status}")
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchRefused(f"the feed is larger than {policy.max_bytes} bytes")
    body = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - handed to the caller
    size = 0
    try:
        # read1 returns what one receive brings, so a server trickling a byte at a time meets
        # the deadline check after every byte (read(n) would wait for all n bytes first).
        # urllib3 < 2 has no read1: small reads keep that wait short.
        read = getattr(response, "read1", None) or (lambda n: response.read(min(n, 8192), decode_content=False))
        for chunk in iter(lambda: read(CHUNK), b""):
            size += len(chunk)
            if size > policy.max_bytes:
                raise FetchRefused(f"the feed is larger than {policy.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchRefused(f"the download took longer than {policy.total_seconds:g} seconds")
            body.write(chunk)
    except urllib3.exceptions.TimeoutError as exc:
        body.close()
        raise FetchRefused("the server stopped sending in the middle of the feed") from exc
    except urllib3.exceptions.HTTPError as exc:  # incl. fewer bytes than Content-Length said
        body.close()
        raise FetchRefused("the download broke off before the whole feed arrived (it may have changed "
                           "while it was being sent)") from exc
    except FetchRefused:
        body.close()
        raise
    body.seek(0)
    return Fetched(False, url, body, size, response.headers.get("ETag"), response.headers.get("Last-Modified"),
                   response.headers.get("Content-Type"))
