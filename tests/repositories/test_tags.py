"""The tags as the portal sees them (portal.repositories.tags): the tags page's data, tag actions with their
messages and audit entries, the tag history and restores, the manifest page's data, and audited expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.access import Principal
from portal.audit.models import LogEntry
from portal.errors import Invalid, NotFound
from portal.repositories import tags
from portal.repositories.models import Repository
from registry_api import services
from registry_api.models import Manifest, Tag, TagEvent
from registry_api.storage import blob_key
from scanning.models import ScanStatus, ScanSummary
from tests.factories import make_repository, sha256
from tests.registry_api.helpers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, encode, push_blob
from tests.registry_api.tagged import push_image, push_index

pytestmark = pytest.mark.django_db


def snapshot(repository: Repository) -> tuple[list[tuple[str, str]], int, int]:
    """What a refused action must leave alone: the tags with their targets, the history and the audit log."""
    return (sorted(Tag.objects.filter(repository=repository).values_list("name", "manifest__digest")),
            TagEvent.objects.filter(repository=repository).count(), LogEntry.objects.count())


def age(repository: Repository, days: float) -> None:
    """Move every history entry of the repository `days` into the past."""
    TagEvent.objects.filter(repository=repository).update(created_at=timezone.now() - timedelta(days=days))


# --- tag_page ------------------------------------------------------------------------------------------------------

def test_a_page_lists_tags_newest_first_with_size_digest_and_expiry(client, repo):
    old = push_image(client, repo, "v1", "one")
    new = push_image(client, repo, "v2", "two")
    Tag.objects.filter(name="v1").update(updated_at=timezone.now() - timedelta(hours=1))
    soon = timezone.now() + timedelta(days=1)
    Tag.objects.filter(name="v2").update(expires_at=soon)

    page = tags.tag_page(repo)

    assert [(r.name, r.digest) for r in page.rows] == [("v2", new), ("v1", old)]
    v2 = page.rows[0]
    assert v2.media_type == OCI_MANIFEST
    assert v2.image_size == Manifest.objects.get(digest=new).image_size > 0
    assert v2.expires_at == soon
    assert (v2.scan, v2.platforms) == (None, [])
    assert (page.total, page.page, page.per_page, page.num_pages) == (2, 1, 50, 1)


def test_the_filter_is_a_case_insensitive_substring_and_pages_past_the_end_give_the_last(client, repo):
    digest = push_image(client, repo, "base")
    manifest = Manifest.objects.get(digest=digest)
    Tag.objects.bulk_create(Tag(repository=repo, name=f"Release-{i:02}", manifest=manifest) for i in range(25))
    Tag.objects.update(updated_at=timezone.now())   # one time for all: then the name orders them

    page = tags.tag_page(repo, name_filter="release-1", page=9, per_page=4)

    assert page.total == 10
    assert (page.page, page.num_pages) == (3, 3)
    assert [row.name for row in page.rows] == ["Release-18", "Release-19"]
    assert tags.tag_page(repo, name_filter="100%").total == 0   # % and _ are literal
    assert tags.tag_page(repo, name_filter="nothing", page=5).rows == []


def test_a_row_carries_the_scan_summary_of_its_manifest(client, repo):
    digest = push_image(client, repo, "v1")
    ScanSummary.objects.create(manifest=Manifest.objects.get(digest=digest), status=ScanStatus.DONE, critical=1,
                               high=2, medium=3, low=4, unknown=5)

    row = tags.tag_page(repo).rows[0]

    assert row.scan == tags.ScanInfo("done", 1, 2, 3, 4, 5)


def test_an_index_expands_into_its_platforms_with_their_sizes(client, repo):
    index, (amd64, arm64) = push_index(client, repo, "multi")

    row = tags.tag_page(repo).rows[0]

    sizes = dict(Manifest.objects.values_list("digest", "image_size"))
    assert (row.digest, row.image_size) == (index, 0)
    assert row.platforms == [tags.PlatformRow("linux", "amd64", "", amd64, sizes[amd64]),
                             tags.PlatformRow("linux", "arm64", "v8", arm64, sizes[arm64])]


def test_a_page_costs_a_fixed_number_of_statements(client, repo, django_assert_max_num_queries):
    push_index(client, repo, "multi")
    push_index(client, repo, "multi2", "other")
    push_image(client, repo, "plain")

    # expired tags, count, page, the page's scan summaries, indexes, their children's sizes
    with django_assert_max_num_queries(6):
        page = tags.tag_page(repo)

    assert len(page.rows) == 3


# --- delete, retag, expiry ---------------------------------------------------------------------------------------

def test_deleting_a_tag_keeps_its_manifest_and_records_who_did_it(client, repo, alice, as_alice):
    digest = push_image(client, repo, "v1")

    tags.delete_tag(as_alice, repo, "v1")

    assert not Tag.objects.filter(name="v1").exists()
    assert Manifest.objects.filter(digest=digest).exists()
    event = TagEvent.objects.latest("id")
    assert (event.kind, event.digest, event.previous_digest, event.actor) == ("deleted", "", digest, alice)
    entry = LogEntry.objects.get(kind="tag_delete")
    assert (entry.actor, entry.target, entry.detail["digest"]) == ("alice", "v1", digest)


@pytest.mark.parametrize(("name", "error"), [("missing", NotFound), ("-bad", Invalid), ("a" * 129, Invalid)])
def test_deleting_a_missing_or_malformed_tag_changes_nothing(client, repo, as_alice, name, error):
    push_image(client, repo, "v1")
    before = snapshot(repo)

    with pytest.raises(error) as raised:
        tags.delete_tag(as_alice, repo, name)

    assert "tag" in raised.value.message
    assert snapshot(repo) == before


def test_retag_creates_a_tag_and_moves_it_with_history(client, repo, alice, as_alice):
    first = push_image(client, repo, "v1", "one")
    second = push_image(client, repo, "v2", "two")

    created = tags.retag(as_alice, repo, "stable", first)
    moved = tags.retag(as_alice, repo, "stable", second)

    assert (created.name, created.digest, moved.digest) == ("stable", first, second)
    events = TagEvent.objects.filter(tag="stable").order_by("id")
    assert [(e.kind, e.digest, e.previous_digest, e.actor) for e in events] == [
        ("pushed", first, "", alice), ("moved", second, first, alice)]
    assert LogEntry.objects.filter(kind="tag_create", target="stable").count() == 2


def test_retag_to_the_same_manifest_records_no_move(client, repo, as_alice):
    digest = push_image(client, repo, "v1")
    events = TagEvent.objects.count()

    assert tags.retag(as_alice, repo, "v1", digest).digest == digest

    assert TagEvent.objects.count() == events
    assert not LogEntry.objects.filter(kind="tag_create").exists()


@pytest.mark.parametrize(("name", "digest", "error", "says"), [
    ("new", "sha256:" + "0" * 64, NotFound, "no manifest"),
    ("new", "sha256:nothex", Invalid, "not a valid digest"),
    ("bad tag", None, Invalid, "not a valid tag"),
    (".hidden", None, Invalid, "not a valid tag"),
])
def test_retag_refuses_bad_input_and_changes_nothing(client, repo, as_alice, name, digest, error, says):
    existing = push_image(client, repo, "v1")
    before = snapshot(repo)

    with pytest.raises(error) as raised:
        tags.retag(as_alice, repo, name, digest or existing)

    assert says in raised.value.message
    assert snapshot(repo) == before


def test_retag_does_not_reach_into_another_repository(client, repo, as_alice):
    other = make_repository("alice/other")
    foreign = push_image(client, other, "v1", "foreign")

    with pytest.raises(NotFound):
        tags.retag(as_alice, repo, "v1", foreign)

    assert not Tag.objects.filter(repository=repo).exists()


def test_an_expiry_is_set_cleared_and_never_in_the_past(client, repo, as_alice):
    push_image(client, repo, "v1")
    later = timezone.now() + timedelta(days=3)

    tags.set_expiry(as_alice, repo, "v1", later)
    assert Tag.objects.get(name="v1").expires_at == later
    before = snapshot(repo)
    with pytest.raises(Invalid, match="in the past"):
        tags.set_expiry(as_alice, repo, "v1", timezone.now() - timedelta(minutes=1))
    assert Tag.objects.get(name="v1").expires_at == later
    assert snapshot(repo) == before
    tags.set_expiry(as_alice, repo, "v1", None)

    assert Tag.objects.get(name="v1").expires_at is None
    assert LogEntry.objects.filter(kind="tag_expiry").count() == 2
    with pytest.raises(NotFound):
        tags.set_expiry(as_alice, repo, "missing", later)


def test_moving_a_tag_keeps_its_expiry(client, repo, as_alice):
    push_image(client, repo, "v1", "one")
    second = push_image(client, repo, None, "two")
    later = timezone.now() + timedelta(days=3)
    tags.set_expiry(as_alice, repo, "v1", later)

    tags.retag(as_alice, repo, "v1", second)

    assert Tag.objects.get(name="v1").expires_at == later


# --- history and restore ----------------------------------------------------------------------------------------

def test_history_lists_moves_newest_first_with_what_each_one_can_restore(client, repo, alice, as_alice):
    first = push_image(client, repo, "v1", "one", actor_id=alice.pk)
    second = push_image(client, repo, "v1", "two")
    tags.delete_tag(as_alice, repo, "v1")

    entries, total = tags.tag_history(repo, "v1")

    assert total == 3
    assert [(e.kind, e.digest, e.previous_digest, e.actor, e.restorable_digest) for e in entries] == [
        ("deleted", "", second, "alice", second),
        ("moved", second, first, "", first),
        ("pushed", first, "", "alice", ""),
    ]


def test_history_offers_nothing_to_restore_once_the_manifest_is_gone_or_the_tag_is_back(client, repo, as_alice):
    first = push_image(client, repo, "v1", "one")
    second = push_image(client, repo, "v1", "two")
    push_image(client, repo, "v2", "three")
    tags.delete_tag(as_alice, repo, "v2")
    Manifest.objects.filter(digest=first).delete()
    tags.restore_tag(as_alice, repo, "v2", TagEvent.objects.get(tag="v2", kind="deleted").previous_digest)

    entries, _ = tags.tag_history(repo)

    assert {(e.tag, e.kind): e.restorable_digest for e in entries} == {
        ("v2", "pushed"): "", ("v2", "deleted"): "",   # already back where it was
        ("v1", "pushed"): "", ("v1", "moved"): "",      # the earlier manifest was deleted
    }
    assert Tag.objects.get(name="v1").manifest.digest == second


def test_history_keeps_to_the_retention_window_and_pages(client, repo, settings):
    settings.WHARF_TAG_HISTORY_DAYS = 14
    for i in range(5):
        push_image(client, repo, f"t{i}", str(i))
    TagEvent.objects.filter(tag="t0").update(created_at=timezone.now() - timedelta(days=15))

    entries, total = tags.tag_history(repo, page=3, per_page=3)

    assert total == 4
    assert [e.tag for e in entries] == ["t1"]   # page 2 of 2 (3 past the end), oldest last


def test_a_deleted_tag_is_restored_to_its_manifest(client, repo, as_alice):
    digest = push_image(client, repo, "v1")
    tags.delete_tag(as_alice, repo, "v1")

    row = tags.restore_tag(as_alice, repo, "v1", digest)

    assert (row.name, row.digest) == ("v1", digest)
    assert TagEvent.objects.latest("id").kind == "pushed"
    assert LogEntry.objects.get(kind="tag_restore").detail == {"digest": digest, "previous": ""}


def test_a_moved_tag_is_restored_to_its_previous_manifest(client, repo, as_alice):
    first = push_image(client, repo, "v1", "one")
    push_image(client, repo, "v1", "two")

    assert tags.restore_tag(as_alice, repo, "v1", first).digest == first
    assert TagEvent.objects.latest("id").kind == "moved"


def test_restore_refuses_a_digest_the_tag_never_had_and_changes_nothing(client, repo, as_alice):
    push_image(client, repo, "v1", "one")
    other = push_image(client, repo, "v2", "two")   # in the repository, but never v1's
    before = snapshot(repo)

    with pytest.raises(Invalid, match="did not point at"):
        tags.restore_tag(as_alice, repo, "v1", other)
    with pytest.raises(Invalid, match="did not point at"):
        tags.restore_tag(as_alice, repo, "v1", "sha256:" + "1" * 64)

    assert snapshot(repo) == before


def test_restore_refuses_a_digest_older_than_the_window_or_whose_manifest_is_gone(client, repo, as_alice):
    first = push_image(client, repo, "v1", "one")
    second = push_image(client, repo, "v1", "two")
    tags.delete_tag(as_alice, repo, "v1")
    Manifest.objects.filter(digest=second).delete()
    age(repo, 15)
    TagEvent.objects.filter(previous_digest=second).update(created_at=timezone.now())
    before = snapshot(repo)

    with pytest.raises(Invalid, match="has been deleted"):
        tags.restore_tag(as_alice, repo, "v1", second)
    with pytest.raises(Invalid, match="in the last 14 days"):
        tags.restore_tag(as_alice, repo, "v1", first)

    assert snapshot(repo) == before


# --- the manifest page ------------------------------------------------------------------------------------------

def test_a_manifest_shows_layers_with_their_build_steps_labels_and_referrers(client, repo):
    digest = push_image(client, repo, "v1", labels={"org.opencontainers.image.source": "https://x.test/app"},
                        annotations={"org.example.note": "hello"})
    tags.retag(Principal(), repo, "latest", digest)
    signature = push_image(client, repo, None, "sig", subject=descriptor(
        OCI_MANIFEST, bytes(Manifest.objects.get(digest=digest).content)))

    detail = tags.manifest_detail(repo, digest)

    assert (detail.digest, detail.media_type, detail.os, detail.architecture) == (digest, OCI_MANIFEST, "linux",
                                                                                   "amd64")
    assert detail.tags == ["latest", "v1"]
    assert [layer.command for layer in detail.layers] == [
        "ADD file:0a1b2c in /", "RUN /bin/sh -c apk add --no-cache curl # buildkit"]
    assert [layer.size for layer in detail.layers] == [len(b"base layer a"), len(b"curl layer a")]
    assert detail.image_size == Manifest.objects.get(digest=digest).image_size > sum(x.size for x in detail.layers)
    assert detail.labels == {"org.opencontainers.image.source": "https://x.test/app"}
    assert detail.annotations == {"org.example.note": "hello"}
    assert detail.config_digest.startswith("sha256:")
    assert [r["digest"] for r in detail.referrers] == [signature]
    assert detail.platforms == []


def test_an_index_shows_its_platforms_and_a_missing_config_blob_leaves_commands_empty(client, repo, storage):
    index, children = push_index(client, repo, "multi")
    config = tags.manifest_detail(repo, children[0]).config_digest
    storage.delete(blob_key(config))

    assert [p.architecture for p in tags.manifest_detail(repo, index).platforms] == ["amd64", "arm64"]
    bare = tags.manifest_detail(repo, children[0])
    assert [layer.command for layer in bare.layers] == ["", ""]
    assert (bare.labels, bare.os) == ({}, "")


def test_a_config_blob_nested_too_deep_to_parse_reads_as_no_config(client, repo):
    # A config is any blob a client pushed; json.loads recursed to death on 100,000 `[` (a 500 on the page).
    config, layer = b"[" * 100_000 + b"]" * 100_000, b"layer"
    for blob in (config, layer):
        push_blob(client, repo.full_name, blob)
    body = encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                   "layers": [descriptor(OCI_LAYER, layer)]})
    digest = services.put_manifest(repo, "deep", body, OCI_MANIFEST, None).digest

    detail = tags.manifest_detail(repo, digest)

    assert ([x.command for x in detail.layers], detail.labels, detail.os) == ([""], {}, "")
    assert detail.config_digest == sha256(config)


def test_an_unknown_or_malformed_digest_is_refused(client, repo):
    with pytest.raises(NotFound):
        tags.manifest_detail(repo, sha256(b"nothing"))
    with pytest.raises(Invalid):
        tags.manifest_detail(repo, "latest")


# --- expiry and pruning -----------------------------------------------------------------------------------------

def test_expired_tags_are_deleted_into_the_history_and_can_be_restored(client, repo, as_alice):
    digest = push_image(client, repo, "old")
    push_image(client, repo, "later", "two")
    push_image(client, repo, "forever", "three")
    now = timezone.now()
    Tag.objects.filter(name="old").update(expires_at=now - timedelta(seconds=1))
    Tag.objects.filter(name="later").update(expires_at=now + timedelta(hours=1))

    assert tags.expire_tags(now) == 1
    assert tags.expire_tags(now) == 0

    assert sorted(Tag.objects.values_list("name", flat=True)) == ["forever", "later"]
    event = TagEvent.objects.get(tag="old", kind="deleted")
    assert (event.previous_digest, event.actor) == (digest, None)
    assert LogEntry.objects.get(kind="tag_delete").detail["reason"] == "expired"
    assert tags.tag_history(repo, "old")[0][0].restorable_digest == digest
    assert tags.restore_tag(as_alice, repo, "old", digest).expires_at is None
