"""The notifications API: admins manage a repository's notifications and read their delivery log (attempts
included), send tests and redeliver; the secret is in the create answer only; and each person's inbox.

The receivers are real HTTP servers on loopback (tests/notifications/standins.py); the tests make the attempts
themselves (notifications.delivery.attempt) instead of a worker, which tests/notifications covers."""

from __future__ import annotations

import pytest

from notifications import delivery
from notifications.models import Delivery, InboxMessage, Notification
from tests.api.conftest import error_of
from tests.notifications.standins import receiver, verify

REPO = "/api/v1/repositories/acme/app/notifications/"


@pytest.fixture(autouse=True)
def loopback_allowed(settings):  # type: ignore[no-untyped-def]
    settings.WHARF_NOTIFY_ALLOW_PRIVATE = True


@pytest.fixture
def sent(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    ids: list[int] = []
    monkeypatch.setattr("notifications.delivery.send", lambda delivery_ids: ids.extend(delivery_ids))
    return ids


def _create(as_, url: str, persona: str = "repo_admin", **more):  # type: ignore[no-untyped-def]
    body = {"event": "repo_push", "method": "webhook", "target": url, **more}
    return as_(persona).post(REPO, body, format="json")


def test_creating_a_webhook_answers_its_secret_once(world, as_):
    response = _create(as_, "https://hooks.example.com/x", filter={"tag_glob": "v*"}, title="CI")

    assert response.status_code == 201
    body = response.json()
    assert len(body["secret"]) == 64 and body["filter"] == {"tag_glob": "v*"} and body["title"] == "CI"
    shown = as_("repo_admin").get(f"{REPO}{body['id']}/").json()
    listed = as_("repo_admin").get(REPO).json()["results"]
    assert "secret" not in shown and all("secret" not in row for row in listed)
    assert body["secret"] not in str(Notification.objects.get(pk=body["id"]).secret_encrypted)


def test_readers_and_writers_are_refused_and_outsiders_see_nothing(world, as_):
    assert _create(as_, "https://hooks.example.com/x", persona="reader").status_code == 403
    assert as_("writer").get(REPO).status_code == 403
    outsider = as_("outsider").get(REPO)

    assert outsider.status_code == 404
    missing = as_("outsider").get("/api/v1/repositories/acme/gone/notifications/")
    assert outsider.json()["error"]["message"] == missing.json()["error"]["message"].replace("gone", "app")


def test_a_webhook_to_a_private_address_is_refused(world, as_, settings):
    settings.WHARF_NOTIFY_ALLOW_PRIVATE = False

    response = _create(as_, "http://169.254.169.254/latest/meta-data/")

    assert response.status_code == 400
    assert error_of(response)["field"] == "target" and "link-local" in error_of(response)["message"]


def test_an_unknown_filter_for_the_event_is_refused(world, as_):
    response = _create(as_, "https://hooks.example.com/x", filter={"min_severity": "high"})

    assert response.status_code == 400
    assert error_of(response)["field"] == "filter"


def test_the_delivery_log_shows_each_attempt_and_redelivery_sends_the_same_payload_anew(world, as_, sent):
    with receiver(500, 200) as hook:
        created = _create(as_, hook.url).json()
        test = as_("repo_admin").post(f"{REPO}{created['id']}/test/", format="json")
        delivery.attempt(test.json()["id"])
        again = as_("repo_admin").post(f"{REPO}deliveries/{test.json()['id']}/redeliver/", format="json")
        delivery.attempt(again.json()["id"])
        log = as_("repo_admin").get(f"{REPO}{created['id']}/deliveries/").json()["results"]

    assert test.status_code == again.status_code == 202
    assert [row["status"] for row in log] == ["succeeded", "failed"]
    newest, first = log
    assert newest["redelivery_of"] == first["id"] and newest["delivery_id"] != first["delivery_id"]
    assert newest["payload"] == first["payload"] and first["payload"]["test"] is True
    assert [(a["number"], a["status_code"], a["response_excerpt"]) for a in first["attempt_log"]] == [
        (1, 500, "answer 500")]
    assert newest["attempt_log"][0]["status_code"] == 200
    assert [verify(created["secret"], r.headers, r.body, set()) for r in hook.received] == ["ok", "ok"]


def test_another_repositorys_delivery_cannot_be_redelivered_here(world, as_, sent):
    from notifications import services

    theirs = services.create_notification(world.site, world.principal("owner"), event="repo_push",
                                          method="webhook", target="https://hooks.example.com/x").notification
    row = Delivery.objects.create(notification=theirs, event="repo_push", payload={"event": "repo_push"})

    response = as_("repo_admin").post(f"{REPO}deliveries/{row.pk}/redeliver/", format="json")

    assert response.status_code == 404
    assert sent == []


def test_a_disabled_notification_is_not_redelivered_until_enabled_again(world, as_, sent):
    created = _create(as_, "https://hooks.example.com/x").json()
    Notification.objects.filter(pk=created["id"]).update(enabled=False, consecutive_failures=5,
                                                         disabled_reason="Disabled after 5 failed deliveries")
    row = Delivery.objects.create(notification_id=created["id"], event="repo_push", payload={"event": "repo_push"})

    refused = as_("repo_admin").post(f"{REPO}deliveries/{row.pk}/redeliver/", format="json")
    shown = as_("repo_admin").get(f"{REPO}{created['id']}/").json()
    enabled = as_("repo_admin").patch(f"{REPO}{created['id']}/", {"enabled": True}, format="json").json()

    assert refused.status_code == 409
    assert shown["enabled"] is False and shown["disabled_reason"].startswith("Disabled after 5")
    assert enabled["enabled"] is True and enabled["consecutive_failures"] == 0 and enabled["disabled_reason"] == ""


def test_deleting_a_notification_removes_its_log(world, as_):
    created = _create(as_, "https://hooks.example.com/x").json()
    Delivery.objects.create(notification_id=created["id"], event="repo_push", payload={"event": "repo_push"})

    assert as_("repo_admin").delete(f"{REPO}{created['id']}/").status_code == 204
    assert not Delivery.objects.filter(notification_id=created["id"]).exists()


def test_an_in_app_notification_goes_only_to_someone_who_may_read_the_repository(world, as_):
    refused = as_("repo_admin").post(REPO, {"event": "repo_push", "method": "inapp", "target_user": "olivia"},
                                     format="json")
    to_reader = as_("repo_admin").post(REPO, {"event": "repo_push", "method": "inapp", "target_user": "rita"},
                                       format="json")
    to_team = as_("repo_admin").post(REPO, {"event": "build_failed", "method": "inapp", "target_team": "devs"},
                                     format="json")

    assert refused.status_code == 400 and error_of(refused)["field"] == "target_user"
    assert to_reader.status_code == 201 and to_reader.json()["target_user"] == "rita"
    assert to_team.status_code == 201 and to_team.json()["target_team"] == "devs"


def test_the_inbox_lists_the_callers_messages_and_marks_them_read(world, as_):
    rita, walt = world.users["reader"], world.users["writer"]
    first = InboxMessage.objects.create(user=rita, event="repo_push", title="acme/app: pushed v1")
    InboxMessage.objects.create(user=rita, event="repo_push", title="acme/app: pushed v2")
    InboxMessage.objects.create(user=walt, event="repo_push", title="not rita's")

    listed = as_("reader").get("/api/v1/user/inbox/").json()["results"]
    one = as_("reader").post("/api/v1/user/inbox/read/", {"ids": [first.pk]}, format="json").json()
    unread = as_("reader").get("/api/v1/user/inbox/?unread=1").json()["results"]
    rest = as_("reader").post("/api/v1/user/inbox/read/", {}, format="json").json()

    assert [m["title"] for m in listed] == ["acme/app: pushed v2", "acme/app: pushed v1"]
    assert one == {"marked": 1, "unread": 1}
    assert [m["title"] for m in unread] == ["acme/app: pushed v2"]
    assert rest == {"marked": 1, "unread": 0}
    assert InboxMessage.objects.filter(user=walt, read_at__isnull=True).count() == 1


def test_the_notification_routes_are_in_the_schema(client, db):
    paths = client.get("/api/v1/schema/?format=json").json()["paths"]

    base = "/api/v1/repositories/{namespace}/{name}/notifications/"
    assert {base, base + "{notification_id}/", base + "{notification_id}/test/",
            base + "{notification_id}/deliveries/", base + "deliveries/{delivery_id}/redeliver/",
            "/api/v1/user/inbox/", "/api/v1/user/inbox/read/"} <= set(paths)
