"""Which address the abuse limits and the audit log see: the peer's, or the one trusted proxies forwarded."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from portal.client_address import client_ip


def request_from(peer: str, forwarded: str | None = None):  # type: ignore[no-untyped-def]
    extra = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says(settings) -> None:  # type: ignore[no-untyped-def]
    settings.WHARF_TRUSTED_PROXIES = 0

    assert client_ip(request_from("10.0.0.1", "203.0.113.7")) == "10.0.0.1"


@pytest.mark.parametrize(("proxies", "forwarded", "client"), [
    (1, "203.0.113.7", "203.0.113.7"),
    # A client may put anything on the left; only the entries the trusted proxies appended count.
    (1, "198.51.100.9, 203.0.113.7", "203.0.113.7"),
    (2, "198.51.100.9, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
    (1, "2001:db8::1", "2001:db8::1"),
])
def test_behind_trusted_proxies_the_forwarded_address_is_the_client(settings, proxies, forwarded,  # type: ignore[no-untyped-def]
                                                                    client) -> None:
    settings.WHARF_TRUSTED_PROXIES = proxies

    assert client_ip(request_from("10.0.0.1", forwarded)) == client


@pytest.mark.parametrize("forwarded", [None, "", "not-an-address", "203.0.113.7"])
def test_a_missing_short_or_garbled_header_falls_back_to_the_peer(settings, forwarded) -> None:  # type: ignore[no-untyped-def]
    settings.WHARF_TRUSTED_PROXIES = 2

    expected = "10.0.0.1"
    assert client_ip(request_from("10.0.0.1", forwarded)) == expected
