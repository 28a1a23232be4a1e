"""One POST to a URL someone typed into a notification, safely: the host is resolved on every attempt and
refused when any address it has is not on the public internet (server-side request forgery: loopback, link-local
such as the cloud metadata service at 169.254.169.254, private, unspecified, multicast, reserved), unless
WHARF_NOTIFY_ALLOW_PRIVATE; the connection then goes to the address that was checked, so a DNS answer that
changes between the check and the connect (rebinding) cannot slip through. TLS still verifies the URL's host
name (SNI and the certificate). Redirects are not followed (http.client follows none), and the whole attempt,
connect to last byte read, is cut at the timeout."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

EXCERPT_BYTES = 1024


class Refused(Exception):
    """A URL Wharf will not send to; the message says why (shown in the delivery log)."""


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str          # the first KiB of the body, decoded leniently
    duration_ms: int


def check_url(url: str) -> None:
    """Refused for a URL that is not http(s) with a host, or names an address that is not public (when a
    notification is saved, without looking names up; every attempt resolves and checks again)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("the URL must start with http:// or https:// and name a host")
    try:
        parts.port   # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        raise Refused("the URL's port is not a number from 1 to 65535") from None
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return   # a name: resolved and checked when sending
    kind = why_refused(literal)
    if kind and not settings.WHARF_NOTIFY_ALLOW_PRIVATE:
        raise Refused(f"{literal} is a {kind} address; Wharf does not send there")


def why_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """"" for a public address, else what it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return why_refused(address.ipv4_mapped)
    for kind in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "" if address.is_global else "not public"


def resolve(host: str, port: int) -> list[str]:
    """Every address the host has (an IP literal is its own)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def safe_address(host: str, port: int) -> str:
    """The address to connect to for `host`: Refused when it does not resolve or any address it has is not
    public (a name with one private address among public ones is refused too), unless the setting allows it."""
    try:
        addresses = resolve(host, port)
    except OSError as exc:
        raise Refused(f"{host} does not resolve: {exc}") from None
    if not addresses:
        raise Refused(f"{host} does not resolve")
    if not settings.WHARF_NOTIFY_ALLOW_PRIVATE:
        for address in addresses:
            kind = why_refused(ipaddress.ip_address(address.split("%", 1)[0]))
            if kind:
                raise Refused(f"{host} resolves to {address}, a {kind} address; Wharf does not send there "
                              "(WHARF_NOTIFY_ALLOW_PRIVATE allows it)")
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)   # type: ignore[attr-defined]


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body`; the answer's status and first KiB whatever the status. Refused (the guard), or OSError /
    http.client.HTTPException (unreachable, reset, timed out, not HTTP) for an attempt that got no answer."""
    check_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = safe_address(host, port)
    started = time.monotonic()
    deadline = started + timeout
    kind = _PinnedHTTPS if https else _PinnedHTTP
    connection = kind(host, port, address, timeout)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers={
            **headers, "Content-Length": str(len(body)), "Connection": "close"})
        _left(connection, deadline)
        response = connection.getresponse()
        _left(connection, deadline)
        excerpt = response.read(EXCERPT_BYTES)
        return Answer(response.status, excerpt.decode("utf-8", "replace"),
                      int((time.monotonic() - started) * 1000))
    finally:
        connection.close()


def _left(connection: http.client.HTTPConnection, deadline: float) -> None:
    """The socket waits no longer than what is left of the attempt's time (a receiver that answers a byte at a
    time would otherwise restart the timeout with each)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    if connection.sock is not None:
        connection.sock.settimeout(left)
