"""The registry's own tag rules (registry_api.services.tags): moves, deletions, expiries and restores go into the
history and refuse with registry errors; expiry works in batches and hands each batch to its caller; old history
is pruned. How the portal words and audits them: tests/repositories/test_tags.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.audit.models import LogEntry
from registry_api.errors import DigestInvalid, ManifestUnknown, TagInvalid, TagNotRestorable
from registry_api.models import Manifest, Tag, TagEvent
from registry_api.services import tags
from tests.factories import make_repository
from tests.registry_api.tagged import push_image

pytestmark = pytest.mark.django_db


def test_moving_a_tag_returns_where_it_pointed_and_records_the_move(client, repo, alice):
    first = push_image(client, repo, "v1", "one")
    second = push_image(client, repo, None, "two")

    assert tags.move_tag(repo, "stable", first, alice.pk) is None
    assert tags.move_tag(repo, "stable", second, alice.pk) == first
    assert tags.move_tag(repo, "stable", second, alice.pk) == second   # already there: nothing recorded

    events = TagEvent.objects.filter(tag="stable").order_by("id")
    assert [(e.kind, e.digest, e.previous_digest, e.actor) for e in events] == [
        ("pushed", first, "", alice), ("moved", second, first, alice)]
    assert not LogEntry.objects.exists()   # the audit log is the portal's to write


@pytest.mark.parametrize(("name", "digest", "error"), [
    ("bad tag", None, TagInvalid), ("v1", "sha256:nothex", DigestInvalid),
    ("v1", "sha256:" + "0" * 64, ManifestUnknown)])
def test_a_move_refuses_with_registry_errors_and_changes_nothing(client, repo, name, digest, error):
    existing = push_image(client, repo, "v1")
    events = TagEvent.objects.count()

    with pytest.raises(error):
        tags.move_tag(repo, name, digest or existing, None)

    assert TagEvent.objects.count() == events
    assert list(Tag.objects.values_list("name", "manifest__digest")) == [("v1", existing)]


def test_a_move_does_not_reach_into_another_repository(client, repo):
    foreign = push_image(client, make_repository("alice/other"), "v1", "foreign")

    with pytest.raises(ManifestUnknown):
        tags.move_tag(repo, "v1", foreign, None)


def test_deleting_a_tag_keeps_its_manifest_and_records_its_expiry(client, repo, alice):
    digest = push_image(client, repo, "v1")
    when = timezone.now() + timedelta(days=1)
    tags.set_expiry(repo, "v1", when)

    assert tags.delete_tag(repo, "v1", alice.pk) == digest

    assert not Tag.objects.exists() and Manifest.objects.filter(digest=digest).exists()
    event = TagEvent.objects.latest("id")
    assert (event.kind, event.previous_digest, event.previous_expires_at, event.actor) == (
        "deleted", digest, when, alice)


def test_deleting_or_setting_the_expiry_of_a_missing_or_expired_tag_finds_no_tag(client, repo):
    push_image(client, repo, "v1")
    Tag.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    events = TagEvent.objects.count()

    for name in ("v1", "missing"):
        with pytest.raises(ManifestUnknown):
            tags.delete_tag(repo, name, None)
        with pytest.raises(ManifestUnknown):
            tags.set_expiry(repo, name, None)
    with pytest.raises(TagInvalid):
        tags.delete_tag(repo, "-bad", None)

    assert TagEvent.objects.count() == events and Tag.objects.filter(name="v1").exists()


def test_a_restore_brings_back_the_expiry_the_tag_had_on_that_manifest(client, repo):
    first = push_image(client, repo, "v1", "one")
    when = timezone.now() + timedelta(days=2)
    tags.set_expiry(repo, "v1", when)
    second = push_image(client, repo, "v1", "two")
    tags.set_expiry(repo, "v1", None)

    restored = tags.restore_tag(repo, "v1", first, None)

    assert restored == tags.Restored(second, when)
    assert Tag.objects.filter(name="v1").values_list("manifest__digest", "expires_at").get() == (first, when)
    assert tags.restore_tag(repo, "v1", first, None) == tags.Restored(first, None)   # already there


def test_a_restore_refuses_a_digest_outside_the_history_or_whose_manifest_is_gone(client, repo, settings):
    settings.WHARF_TAG_HISTORY_DAYS = 14
    first = push_image(client, repo, "v1", "one")
    second = push_image(client, repo, "v1", "two")
    other = push_image(client, repo, "v2", "three")
    tags.delete_tag(repo, "v1", None)
    Manifest.objects.filter(digest=second).delete()
    TagEvent.objects.filter(tag="v1").exclude(previous_digest=second).update(
        created_at=timezone.now() - timedelta(days=15))

    with pytest.raises(TagNotRestorable):
        tags.restore_tag(repo, "v1", other, None)   # never v1's
    with pytest.raises(TagNotRestorable):
        tags.restore_tag(repo, "v1", first, None)   # v1's, but 15 days ago
    with pytest.raises(ManifestUnknown):
        tags.restore_tag(repo, "v1", second, None)

    assert not Tag.objects.filter(name="v1").exists()


def test_expired_tags_are_deleted_in_batches_each_handed_to_the_caller_in_its_transaction(client, repo,
                                                                                        monkeypatch):
    monkeypatch.setattr(tags, "EXPIRY_BATCH", 7)
    manifest = Manifest.objects.get(digest=push_image(client, repo, "keep"))
    past = timezone.now() - timedelta(minutes=5)
    Tag.objects.bulk_create(Tag(repository=repo, name=f"tmp{i}", manifest=manifest, expires_at=past)
                            for i in range(20))
    batches: list[list[tags.ExpiredTag]] = []

    def seen(batch: list[tags.ExpiredTag]) -> None:
        # Inside the batch's transaction: its rows are gone, its history written.
        assert not Tag.objects.filter(name__in=[tag.name for tag in batch]).exists()
        assert TagEvent.objects.filter(kind="deleted", tag__in=[tag.name for tag in batch]).count() == len(batch)
        batches.append(batch)

    assert tags.expire_tags(timezone.now(), on_batch=seen) == 20
    assert tags.expire_tags(timezone.now(), on_batch=seen) == 0

    assert [len(batch) for batch in batches] == [7, 7, 6]
    assert {(tag.repository, tag.digest, tag.expires_at) for batch in batches for tag in batch} == {
        (repo, manifest.digest, past)}
    assert list(Tag.objects.values_list("name", flat=True)) == ["keep"]
    event = TagEvent.objects.filter(kind="deleted").first()
    assert event is not None and (event.actor, event.previous_expires_at) == (None, past)


def test_pruning_forgets_history_older_than_the_cutoff(client, repo, monkeypatch):
    monkeypatch.setattr(tags, "PRUNE_BATCH", 2)
    for i in range(5):
        push_image(client, repo, f"t{i}", str(i))
    old = timezone.now() - timedelta(days=20)
    TagEvent.objects.filter(tag__in=["t0", "t1", "t2"]).update(created_at=old)

    assert tags.prune_tag_history(timezone.now() - timedelta(days=14)) == 3

    assert sorted(TagEvent.objects.values_list("tag", flat=True)) == ["t3", "t4"]
