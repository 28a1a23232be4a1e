"""The notification pages: a repository admin creates one (a webhook's secret shown once), sends a test, reads
the delivery log and redelivers, disables and deletes it; readers get 403; and the inbox with its unread count
in the header."""

from __future__ import annotations

import pytest

from notifications import delivery, services
from notifications.models import Delivery, InboxMessage, Notification
from portal.access import Principal
from tests.factories import grant, make_repository
from tests.notifications.standins import receiver
from tests.web.conftest import messages_of, text


@pytest.fixture(autouse=True)
def loopback_allowed(settings):  # type: ignore[no-untyped-def]
    settings.WHARF_NOTIFY_ALLOW_PRIVATE = True


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):  # type: ignore[no-untyped-def]
    """The tests make the attempts themselves (a worker's part is tested in tests/notifications)."""
    monkeypatch.setattr("notifications.delivery.send", lambda ids: None)


@pytest.fixture
def repo(alice):  # type: ignore[no-untyped-def]
    return make_repository("alice/app")


def _url(repo, notification=None) -> str:  # type: ignore[no-untyped-def]
    base = f"/repository/{repo.full_name}/notifications/"
    return f"{base}{notification.pk}/" if notification is not None else base


def _webhook(repo, user, url="https://hooks.example.com/x"):  # type: ignore[no-untyped-def]
    return services.create_notification(repo, Principal.for_user(user), event="repo_push", method="webhook",
                                        target=url).notification


def test_the_settings_tab_links_to_the_notifications(login_as, alice, repo):
    page = text(login_as(alice).get(f"/repository/{repo.full_name}/settings/"))

    assert f'href="{_url(repo)}"' in page


def test_creating_a_webhook_shows_its_secret_once(login_as, alice, repo):
    client = login_as(alice)

    response = client.post(_url(repo), {"event": "repo_push", "method": "webhook",
                                        "target": "https://hooks.example.com/x", "tag_glob": "v*"})

    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    notification = Notification.objects.get(repository=repo)
    assert notification.filter == {"tag_glob": "v*"}
    secret = response.context["secret"]
    assert len(secret) == 64 and secret in text(response)
    listed = text(client.get(_url(repo)))
    assert "https://hooks.example.com/x" in listed and "tag_glob=v*" in listed and secret not in listed
    assert secret not in text(client.get(_url(repo, notification)))


def test_a_refused_url_is_shown_next_to_its_field(login_as, alice, repo, settings):
    settings.WHARF_NOTIFY_ALLOW_PRIVATE = False

    response = login_as(alice).post(_url(repo), {"event": "repo_push", "method": "webhook",
                                                 "target": "http://10.0.0.1/hook"})

    assert response.status_code == 400
    assert "private address" in text(response)
    assert not Notification.objects.exists()


def test_a_filter_for_another_event_is_refused(login_as, alice, repo):
    response = login_as(alice).post(_url(repo), {"event": "build_failed", "method": "webhook",
                                                 "target": "https://hooks.example.com/x", "tag_glob": "v*"})

    assert response.status_code == 400
    assert "Unknown filter" in text(response)


def test_readers_get_403_and_outsiders_404(login_as, alice, bob, charlie, repo):
    grant(repo, "read", user=bob)
    notification = _webhook(repo, alice)

    assert login_as(bob).get(_url(repo)).status_code == 403
    assert login_as(bob).post(_url(repo, notification), {"action": "test"}).status_code == 403
    assert login_as(charlie).get(_url(repo, notification)).status_code == 404


def test_the_log_shows_a_tests_attempt_and_redeliver_sends_it_again(login_as, alice, repo):
    client = login_as(alice)
    with receiver(503, 200) as hook:
        notification = _webhook(repo, alice, hook.url)
        client.post(_url(repo, notification), {"action": "test"})
        first = Delivery.objects.get(notification=notification)
        delivery.attempt(first.pk)
        after_test = text(client.get(_url(repo, notification)))
        client.post(_url(repo, notification), {"action": "redeliver", "delivery": first.pk})
        again = Delivery.objects.exclude(pk=first.pk).get(notification=notification)
        delivery.attempt(again.pk)
        page = client.get(_url(repo, notification))

    assert "answer 503" in after_test and 'data-testid="status-code">503<' in after_test
    assert again.redelivery_of_id == first.pk and again.payload == first.payload
    assert 'data-testid="status-code">200<' in text(page) and "redelivery" in text(page)
    assert len(hook.received) == 2


def test_disabling_and_enabling_again_clears_the_reason(login_as, alice, repo):
    notification = _webhook(repo, alice)
    Notification.objects.filter(pk=notification.pk).update(
        enabled=False, consecutive_failures=5, disabled_reason="Disabled after 5 failed deliveries in a row")
    client = login_as(alice)

    shown = text(client.get(_url(repo)))
    client.post(_url(repo, notification), {"action": "enable", "enabled": "1"})

    assert "Disabled after 5 failed deliveries" in shown
    notification.refresh_from_db()
    assert notification.enabled and notification.disabled_reason == "" and notification.consecutive_failures == 0


def test_delete_asks_first(login_as, alice, repo):
    notification = _webhook(repo, alice)
    client = login_as(alice)

    asked = client.post(_url(repo, notification), {"action": "delete"})
    assert asked.status_code == 200 and 'data-testid="confirm-page"' in text(asked)
    assert Notification.objects.filter(pk=notification.pk).exists()

    done = client.post(_url(repo, notification), {"action": "delete", "confirm": "1"})
    assert done.status_code == 302 and done["Location"] == _url(repo)
    assert not Notification.objects.filter(pk=notification.pk).exists()


def test_editing_changes_the_filter(login_as, alice, repo):
    notification = _webhook(repo, alice)

    login_as(alice).post(_url(repo, notification), {"action": "update", "target": "https://hooks.example.com/y",
                                                    "tag_regex": "v[0-9]+"})

    notification.refresh_from_db()
    assert notification.target == "https://hooks.example.com/y" and notification.filter == {"tag_regex": "v[0-9]+"}


def test_the_header_shows_the_unread_count_and_the_inbox_marks_read(login_as, alice, bob):
    InboxMessage.objects.create(user=alice, event="repo_push", title="alice/app: pushed v1", url="/x/")
    InboxMessage.objects.create(user=alice, event="repo_push", title="alice/app: pushed v2")
    InboxMessage.objects.create(user=bob, event="repo_push", title="bob's")
    client = login_as(alice)

    home = text(client.get("/"))
    inbox = text(client.get("/inbox/"))
    marked = client.post("/inbox/")

    assert 'data-testid="inbox-unread" title="unread notifications">2<' in home
    assert "pushed v1" in inbox and "pushed v2" in inbox and "bob's" not in inbox
    assert marked.status_code == 302 and messages_of(marked) == ["Marked 2 messages read."]
    assert 'data-testid="inbox-unread"' not in text(client.get("/"))
    assert InboxMessage.objects.filter(user=bob, read_at__isnull=True).count() == 1


def test_the_unread_count_costs_one_query(login_as, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login_as(alice)
    InboxMessage.objects.create(user=alice, event="repo_push", title="one")

    with CaptureQueriesContext(connection) as counted:
        client.get("/settings/")
    inbox_queries = [q for q in counted.captured_queries if "notifications_inboxmessage" in q["sql"]]
    assert len(inbox_queries) == 1
