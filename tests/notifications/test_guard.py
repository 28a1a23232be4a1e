"""Server-side request forgery: webhook and Slack URLs at loopback, link-local, private addresses, or names
resolving to one, are refused with the reason, on every attempt, unless WHARF_NOTIFY_ALLOW_PRIVATE."""

from __future__ import annotations

import socket

import pytest

from notifications import delivery, net
from notifications.models import DeliveryAttempt
from portal.errors import Invalid
from tests.factories import make_repository, make_user
from tests.notifications.pushing import push, webhook
from tests.notifications.standins import receiver


@pytest.fixture
def guarded(settings):  # type: ignore[no-untyped-def]
    settings.WHARF_NOTIFY_ALLOW_PRIVATE = False


@pytest.mark.parametrize(("host", "kind"), [("127.0.0.1", "loopback"), ("169.254.169.254", "link-local"),
                                            ("10.0.0.1", "private"), ("[::1]", "loopback"),
                                            ("[fe80::1]", "link-local"), ("0.0.0.0", "unspecified"),
                                            ("224.0.0.1", "multicast"), ("[::ffff:192.168.1.1]", "private")])
def test_an_address_that_is_not_public_is_refused_with_the_reason(guarded, host, kind) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(net.Refused, match=f"a {kind} address"):
        net.check_url(f"http://{host}/hook")


def test_a_name_resolving_to_a_private_address_is_refused_when_sending(guarded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real = socket.getaddrinfo

    def lookup(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "hooks.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 80))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    net.check_url("http://hooks.example.test/hook")        # no lookup when a notification is saved
    with pytest.raises(net.Refused, match="hooks.example.test resolves to 10.0.0.1, a private address"):
        net.post("http://hooks.example.test/hook", b"{}", {}, 1)
    with pytest.raises(net.Refused, match="localhost resolves to .*a loopback address"):
        net.post("http://localhost:9/hook", b"{}", {}, 1)


@pytest.mark.django_db(transaction=True)
def test_a_saved_url_whose_name_turns_private_is_refused_at_the_attempt(client, sent, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    with receiver() as hook:
        port = hook.url.split(":")[2].split("/")[0]
        webhook(make_repository("alice/app"), alice, f"http://rebind.example.test:{port}/hook")
        answers = {"rebind.example.test": "127.0.0.1"}
        monkeypatch.setattr(net, "resolve", lambda host, port: [answers[host]])
        push(client, "alice/app", "v1")
        settings.WHARF_NOTIFY_ALLOW_PRIVATE = False
        refused = delivery.attempt(sent[0])

        assert refused is not None and refused.status == "retrying" and hook.received == []
        assert refused.error.startswith("refused: rebind.example.test resolves to 127.0.0.1, a loopback address")
        assert DeliveryAttempt.objects.get().error == refused.error
        settings.WHARF_NOTIFY_ALLOW_PRIVATE = True   # the setting lets the same attempt through
        assert delivery.attempt(sent[0], now=refused.next_attempt_at).status == "succeeded"  # type: ignore[union-attr]
        assert hook.received[0].headers["Host"] == f"rebind.example.test:{port}"   # pinned address, named host


@pytest.mark.django_db
def test_a_webhook_at_a_metadata_address_cannot_be_saved(guarded) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    with pytest.raises(Invalid, match="169.254.169.254 is a link-local address"):
        webhook(make_repository("alice/app"), alice, "http://169.254.169.254/latest/meta-data/")
    with pytest.raises(Invalid, match="must start with http"):
        webhook(make_repository("alice/other"), alice, "file:///etc/passwd")
