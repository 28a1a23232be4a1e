"""E-mail (a real SMTP server on loopback, only once the address is confirmed), Slack (a loopback stand-in),
the in-app inbox for a user or a team, and "send test notification"."""

from __future__ import annotations

import pytest

from notifications import delivery, services
from notifications.models import EmailConfirmation, InboxMessage
from portal.access import Principal
from portal.errors import Conflict
from tests.factories import grant, make_organization, make_repository, make_team, make_user
from tests.notifications.pushing import push, webhook
from tests.notifications.standins import receiver, smtp_server, verify

pytestmark = pytest.mark.django_db(transaction=True)


def test_email_goes_out_only_after_the_address_is_confirmed(client, sent, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from notifications import tasks

    monkeypatch.setattr("notifications.services._send_confirmation", tasks.send_confirmation)   # no broker
    alice = make_user("alice")
    repository = make_repository("alice/app")
    with smtp_server() as (mailbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        services.create_notification(repository, Principal.for_user(alice), event="repo_push", method="email",
                                     target="ops@example.com")
        assert len(mailbox.messages) == 1                          # the confirmation link, nothing else
        link = mailbox.messages[0].get_payload()
        token = EmailConfirmation.objects.get().token
        assert f"https://wharf.example/notifications/confirm/{token}/" in link
        push(client, "alice/app", "v1")
        assert sent == []                                          # unconfirmed: no delivery at all

        response = client.get(f"/notifications/confirm/{token}/")
        assert response.status_code == 200 and b"ops@example.com is confirmed" in response.content
        push(client, "alice/app", "v2", layer=b"two")
        done = delivery.attempt(sent[0])

        assert done is not None and done.status == "succeeded"
        mail = mailbox.messages[1]
        assert mail["To"] == "ops@example.com" and mail["Subject"] == "alice/app: pushed v2 by alice"
        assert "https://wharf.example/repository/alice/app/manifest/sha256:" in mail.get_payload()
    assert client.get("/notifications/confirm/nope/").status_code == 404


def test_slack_gets_a_readable_message_with_a_link(client, sent) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    with receiver() as slack:
        services.create_notification(make_repository("alice/app"), Principal.for_user(alice), event="repo_push",
                                     method="slack", target=slack.url)
        digest = push(client, "alice/app", "v1")
        delivery.attempt(sent[0])

        text = slack.received[0].json()["text"]
    assert text.startswith("*alice/app: pushed v1 by alice*\nDigest " + digest)
    assert f"<https://wharf.example/repository/alice/app/manifest/{digest}/|Open in Wharf>" in text


def test_in_app_messages_reach_each_member_of_a_team(client, sent) -> None:  # type: ignore[no-untyped-def]
    alice, bob, charlie = make_user("alice"), make_user("bob"), make_user("charlie")
    acme = make_organization("acme", owner=alice)
    team = make_team(acme, "ops", 1, bob, charlie)
    repository = make_repository("acme/app")
    services.create_notification(repository, Principal.for_user(alice), event="repo_push", method="inapp",
                                 target_team=team)
    with pytest.raises(Exception, match="one user or to one team"):
        services.create_notification(repository, Principal.for_user(alice), event="repo_push", method="inapp")
    push(client, "acme/app", "v1")
    delivery.attempt(sent[0])
    assert not InboxMessage.objects.exists()   # a private repository's events reach only those who may read it

    grant(repository, "read", team=team)
    push(client, "acme/app", "v2", layer=b"second")
    delivery.attempt(sent[1])

    assert sorted(InboxMessage.objects.values_list("user__username", flat=True)) == ["bob", "charlie"]
    assert services.unread_count(bob) == 1 and services.unread_count(alice) == 0
    assert services.mark_read(bob) == 1 and services.unread_count(bob) == 0


def test_send_test_delivers_an_example_marked_test_and_counts_for_nothing(sent) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    repository = make_repository("alice/app")
    with receiver(500) as hook:
        created = webhook(repository, alice, hook.url, event="build_failed")
        test = services.send_test(created.notification, Principal.for_user(alice))
        done = delivery.attempt(test.pk)

        assert done is not None and (done.status, done.attempts, done.last_status_code) == ("failed", 1, 500)
        request = hook.received[0]
        assert verify(created.secret, request.headers, request.body, set()) == "ok"
        assert request.json()["test"] is True and request.json()["event"] == "build_failed"
    created.notification.refresh_from_db()
    assert created.notification.failing_since is None and created.notification.enabled


def test_send_test_to_an_unconfirmed_address_is_refused(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("notifications.services._send_confirmation", lambda confirmation_id: None)
    alice = make_user("alice")
    created = services.create_notification(make_repository("alice/app"), Principal.for_user(alice),
                                           event="repo_push", method="email", target="ops@example.com")
    with pytest.raises(Conflict, match="not been confirmed"):
        services.send_test(created.notification, Principal.for_user(alice))
