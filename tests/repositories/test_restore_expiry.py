"""Restoring a tag restores its expiry: the history keeps the expiry a tag had when it was moved or deleted,
and a restore puts it back; one that has passed meanwhile is dropped (the tag comes back without one).
The service, the API and the history page tell the same story."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.audit.models import LogEntry
from portal.repositories import tags
from registry_api.models import Tag, TagEvent
from registry_api.services import delete_manifest
from tests.api.conftest import as_user
from tests.registry_api.tagged import push_image

pytestmark = pytest.mark.django_db


def later(days: float = 3) -> timezone.datetime:
    return (timezone.now() + timedelta(days=days)).replace(microsecond=0)


def expiry_of(repo, name: str):
    return Tag.objects.get(repository=repo, name=name).expires_at


def test_a_deleted_tag_comes_back_with_its_expiry(client, repo, as_alice):
    digest = push_image(client, repo, "v1")
    when = later()
    tags.set_expiry(as_alice, repo, "v1", when)
    tags.delete_tag(as_alice, repo, "v1")

    deleted = TagEvent.objects.get(tag="v1", kind="deleted")
    row = tags.restore_tag(as_alice, repo, "v1", digest)

    assert deleted.previous_expires_at == when
    assert row.expires_at == when and expiry_of(repo, "v1") == when
    assert LogEntry.objects.get(kind="tag_restore").detail == {"digest": digest, "previous": "",
                                                               "expires_at": when.isoformat()}


def test_a_moved_tag_gets_back_the_expiry_it_had_on_that_manifest(client, repo, as_alice):
    first = push_image(client, repo, "v1", "one")
    first_expiry, second_expiry = later(2), later(9)
    tags.set_expiry(as_alice, repo, "v1", first_expiry)
    second = push_image(client, repo, "v1", "two")   # a push keeps the expiry ...
    tags.set_expiry(as_alice, repo, "v1", second_expiry)   # ... which is then changed on the new manifest

    back = tags.restore_tag(as_alice, repo, "v1", first)
    forth = tags.restore_tag(as_alice, repo, "v1", second)

    assert back.expires_at == first_expiry
    assert forth.expires_at == second_expiry   # the restore's own move recorded the expiry it replaced


def test_a_tag_deleted_by_the_registry_api_keeps_its_expiry_for_the_restore(client, repo, as_alice):
    digest = push_image(client, repo, "v1")
    when = later()
    Tag.objects.filter(name="v1").update(expires_at=when)
    delete_manifest(repo, "v1")

    assert tags.restore_tag(as_alice, repo, "v1", digest).expires_at == when


def test_an_expired_tag_comes_back_without_an_expiry(client, repo, as_alice):
    digest = push_image(client, repo, "v1")
    passed = timezone.now() - timedelta(minutes=5)
    Tag.objects.filter(name="v1").update(expires_at=passed)
    assert tags.expire_tags(timezone.now()) == 1

    entries, _ = tags.tag_history(repo, "v1")
    row = tags.restore_tag(as_alice, repo, "v1", digest)

    assert (entries[0].kind, entries[0].previous_expires_at, entries[0].restore_expires_at) == (
        "deleted", passed, None)
    assert row.expires_at is None and expiry_of(repo, "v1") is None
    assert tags.expire_tags(timezone.now() + timedelta(minutes=1)) == 0   # it stays
    assert "expires_at" not in LogEntry.objects.get(kind="tag_restore").detail


def test_the_history_shows_the_expiry_each_restore_brings_back(client, repo, as_alice):
    push_image(client, repo, "v1", "one")
    when = later()
    tags.set_expiry(as_alice, repo, "v1", when)
    push_image(client, repo, "v1", "two")
    tags.delete_tag(as_alice, repo, "v1")

    entries, _ = tags.tag_history(repo, "v1")

    assert [(e.kind, e.previous_expires_at, e.restore_expires_at) for e in entries] == [
        ("deleted", when, when), ("moved", when, when), ("pushed", None, None)]


def test_the_api_and_the_history_page_agree_with_the_restore(client, repo, alice, as_alice):
    digest = push_image(client, repo, "v1")
    when = later()
    tags.set_expiry(as_alice, repo, "v1", when)
    tags.delete_tag(as_alice, repo, "v1")
    api = as_user(alice)
    url = "/api/v1/repositories/alice/app/tags/v1/"

    entry = api.get(f"{url}history/").json()["results"][0]
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/repository/alice/app/history/").content.decode()
    restored = api.post(f"{url}restore/", {"manifest_digest": digest}, format="json")

    stamp = when.isoformat().replace("+00:00", "Z")
    assert (entry["previous_expires_at"], entry["restore_expires_at"]) == (stamp, stamp)
    assert f"with its expiry, {when:%Y-%m-%d %H:%M}" in page
    assert restored.status_code == 200 and restored.json()["expires_at"] == stamp
    assert api.get(url).json()["expires_at"] == stamp
