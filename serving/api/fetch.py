"""Fetching a picture by URL: a security boundary.

Only http and https; every address the host resolves to must be public (no loopback,
private, link-local — cloud metadata included —, multicast, reserved or unspecified
ranges), and the connection goes to the checked address itself, so a DNS answer cannot
change between check and use. Redirects are followed by hand, each hop checked again,
at most MAX_REDIRECTS. Size, connect and read time are capped. Hosts named in
``allow_hosts`` ("host:port") skip the address check: for tests and private mirrors.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 3


class FetchRefused(Exception):
    """The URL may not be fetched, or did not give a picture; the message says why."""


@dataclass
class FetchPolicy:
    max_bytes: int = 10 * 1024 * 1024
    timeout: float = 5.0
    allow_hosts: list[str] = field(default_factory=list)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def _resolve(host: str, port: int, policy: FetchPolicy) -> str:
    """One checked address to connect to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise FetchRefused(f"cannot resolve host {host!r}") from None
    addresses = sorted({info[4][0] for info in infos})
    if f"{host}:{port}" not in policy.allow_hosts:
        blocked = [a for a in addresses if not _public(a)]
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


def _get(url: str, policy: FetchPolicy) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused("only http and https URLs with a host can be fetched")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _resolve(parts.hostname, port, policy)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPSConnection(address, parts.hostname, port, policy.timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=policy.timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "ShopLens/0.1",
                                                 "Accept": "image/*"})
        return connection.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        raise FetchRefused(f"fetching {parts.hostname} failed: {exc}") from None


def fetch_picture(url: str, policy: FetchPolicy) -> bytes:
    """The body at `url` (after checked redirects), at most policy.max_bytes."""
    for _ in range(MAX_REDIRECTS + 1):
        response = _get(url, policy)
        if response.status in (301, 302, 303, 307, 308):
            location = response.getheader("Location")
            response.close()
            if not location:
                raise FetchRefused("redirect without a Location")
            url = urljoin(url, location)
            continue
        if response.status != 200:
            raise FetchRefused(f"the picture URL answered {response.status}")
        body = response.read(policy.max_bytes + 1)
        response.close()
        if len(body) > policy.max_bytes:
            raise FetchRefused(f"the picture is larger than {policy.max_bytes} bytes")
        return body
    raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")
