"""Fetching a picture by URL: a security boundary.

Only http and https; every address the host resolves to must be public (`public_address`:
no loopback, private, link-local — cloud metadata included —, multicast, reserved or
unspecified ranges, nor an IPv6 form that embeds or maps to such an IPv4), and the
connection goes to the checked address itself, so a DNS answer cannot change between check
and use. Redirects are followed by hand, each hop checked again, at most MAX_REDIRECTS.
The size is capped, and the whole fetch — resolving, connecting, every redirect, the body —
has one deadline. `FetchSlots` bounds how many fetches one API key has in flight. Hosts
named in ``allow_hosts`` ("host:port") skip the address check: for tests and private mirrors.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from serving.api.deadline import Deadline, cut_at

MAX_REDIRECTS = 3
CHUNK = 64 * 1024
# RFC 6052's well-known NAT64 prefix carries the IPv4 in its last 32 bits; RFC 8215's
# local-use prefix belongs to a private network's own translator.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
# getaddrinfo has no timeout of its own: it runs here, and the fetch stops waiting at its deadline
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


class FetchRefused(Exception):
    """The URL may not be fetched, or did not give a picture; the message says why."""


class FetchesBusy(Exception):
    """The API key already has as many URL fetches in flight as it may."""


@dataclass
class FetchPolicy:
    max_bytes: int = 10 * 1024 * 1024
    timeout: float = 5.0  # the whole fetch: resolving, connecting, every redirect and the body
    allow_hosts: list[str] = field(default_factory=list)


def _global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def public_address(address: str) -> bool:
    """Whether a connection to `address` reaches the public internet, IPv6 forms that carry
    an IPv4 judged by that IPv4: mapped (::ffff:a.b.c.d) and NAT64 ones stand for it,
    6to4 and Teredo ones route to it."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv4Address):
        return _global(ip)
    if ip in LOCAL_NAT64:
        return False
    if ip.ipv4_mapped is not None:
        return _global(ip.ipv4_mapped)
    if ip in NAT64:
        return _global(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    carried = [ip.sixtofour, *(ip.teredo or ())]
    return _global(ip) and all(_global(ipv4) for ipv4 in carried if ipv4 is not None)


def _resolve(host: str, port: int, policy: FetchPolicy, deadline: Deadline) -> str:
    """One checked address to connect to."""
    lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=deadline.remaining())
    except (socket.gaierror, UnicodeError):
        raise FetchRefused(f"cannot resolve host {host!r}") from None
    except FutureTimeout:
        raise FetchRefused(f"resolving {host!r} took longer than {policy.timeout:g} s") from None
    addresses = sorted({info[4][0] for info in infos})
    if f"{host}:{port}" not in policy.allow_hosts:
        blocked = [a for a in addresses if not public_address(a)]
        if blocked:
            raise FetchRefused(f"host {host!r} resolves to a non-public address ({blocked[0]})")
    return addresses[0]


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the certificate checked for the real host name."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def _connection(url: str, policy: FetchPolicy, deadline: Deadline) -> tuple[http.client.HTTPConnection, str, str]:
    """An unopened connection to the checked address of `url`, the request path and the Host header."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused("only http and https URLs with a host can be fetched")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FetchRefused("the URL's port is not a number from 0 to 65535") from None
    address = _resolve(parts.hostname, port, policy, deadline)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPSConnection(address, parts.hostname, port,
                                                                         deadline.remaining())
    else:
        connection = http.client.HTTPConnection(address, port, timeout=deadline.remaining())
    return connection, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), parts.netloc


def _body(response: http.client.HTTPResponse, policy: FetchPolicy) -> bytes:
    chunks, size = [], 0
    while chunk := response.read1(CHUNK):  # one read at a time, so a cut socket ends it at once
        chunks.append(chunk)
        size += len(chunk)
        if size > policy.max_bytes:
            raise FetchRefused(f"the picture is larger than {policy.max_bytes} bytes")
    return b"".join(chunks)


def _hop(url: str, policy: FetchPolicy, deadline: Deadline) -> tuple[bytes | None, str | None]:
    """(body, None) for a picture, (None, next URL) for a redirect."""
    connection, path, host = _connection(url, policy, deadline)
    try:
        connection.connect()  # bounded by its timeout, the time left
        with cut_at(deadline, connection.sock):  # kept: a closing response takes it from the connection
            connection.request("GET", path, headers={"Host": host, "User-Agent": "ShopLens/0.1",
                                                     "Accept": "image/*"})
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise FetchRefused("redirect without a Location")
                return None, urljoin(url, location)
            if response.status != 200:
                raise FetchRefused(f"the picture URL answered {response.status}")
            body = _body(response, policy)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if deadline.expired:
            raise FetchRefused(f"the picture did not arrive within {policy.timeout:g} s") from None
        raise FetchRefused(f"fetching {urlsplit(url).hostname} failed: {exc}") from None
    finally:
        connection.close()
    if deadline.expired:  # a body without Content-Length ends at the cut as if complete
        raise FetchRefused(f"the picture did not arrive within {policy.timeout:g} s")
    return body, None


def fetch_picture(url: str, policy: FetchPolicy) -> bytes:
    """The body at `url` (after checked redirects), at most policy.max_bytes, within policy.timeout."""
    deadline = Deadline(policy.timeout)
    for _ in range(MAX_REDIRECTS + 1):
        body, url = _hop(url, policy, deadline)
        if body is not None:
            return body
    raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")


class FetchSlots:
    """URL fetches in flight per API key in this worker process, at most `per_key` each, so slow
    picture servers behind one key hold only that many of the worker's threads."""

    def __init__(self) -> None:
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def taken(self, api_key: str, per_key: int) -> Iterator[None]:
        with self._lock:
            if self._in_flight[api_key] >= per_key:
                raise FetchesBusy(f"this API key already has {per_key} URL fetches in flight")
            self._in_flight[api_key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[api_key] -= 1
                if not self._in_flight[api_key]:
                    del self._in_flight[api_key]
