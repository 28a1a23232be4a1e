"""Tags through the API: the paginated list, one tag, retag and expiry, delete, history and restore, the
manifest page's data; bad input changes nothing, readers and read-only tokens are refused, and a list over
10,000 tags costs a fixed number of statements."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.audit.models import LogEntry
from registry_api.models import Manifest, Tag, TagEvent
from scanning.models import ScanSummary
from tests.api.conftest import as_user, error_of
from tests.factories import make_api_token, sha256
from tests.registry_api.tagged import push_image, push_index

APP = "/api/v1/repositories/acme/app"


@pytest.fixture
def images(world, client):
    """acme/app with v1 on `old` moved to `new` (so v1 has something to restore), and v2 on `new`."""
    old = push_image(client, world.app, "v1", "old")
    new = push_image(client, world.app, "v1", "new", labels={"maintainer": "acme"})
    Tag.objects.create(repository=world.app, name="v2", manifest=Manifest.objects.get(digest=new))
    return old, new


def state():
    """What a refused change must leave alone."""
    return (sorted(Tag.objects.values_list("repository__full_name", "name", "manifest__digest", "expires_at")),
            TagEvent.objects.count(), LogEntry.objects.count())


# --- the list ------------------------------------------------------------------------------------------------------

def test_the_list_shows_each_tag_with_digest_size_dates_and_scan(world, as_, images):
    _, new = images
    ScanSummary.objects.create(manifest=Manifest.objects.get(digest=new), status="done", high=2)
    Tag.objects.filter(name="v1").update(updated_at=timezone.now() - timedelta(hours=1))

    body = as_("reader").get(f"{APP}/tags/").json()

    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    v2, v1 = body["results"]
    assert v2 == {"name": "v2", "digest": new, "media_type": "application/vnd.oci.image.manifest.v1+json",
                  "size": Manifest.objects.get(digest=new).image_size, "last_modified": v2["last_modified"],
                  "expires_at": None, "platforms": [],
                  "scan": {"status": "done", "critical": 0, "high": 2, "medium": 0, "low": 0, "unknown": 0}}
    assert v1["name"] == "v1"
    assert v1["last_modified"] < v2["last_modified"]


def test_a_tag_not_yet_scanned_has_a_null_scan(world, as_, images):
    assert {row["scan"] for row in as_("reader").get(f"{APP}/tags/").json()["results"]} == {None}


def test_the_list_filters_by_name_and_pages_with_links(world, as_, client):
    manifest = Manifest.objects.get(digest=push_image(client, world.app, "base"))
    Tag.objects.bulk_create(Tag(repository=world.app, name=f"rc-{i}", manifest=manifest) for i in range(7))

    first = as_("reader").get(f"{APP}/tags/?filter=RC&per_page=3").json()
    last = as_("reader").get(f"{APP}/tags/?filter=RC&per_page=3&page=99").json()

    assert first["count"] == 7
    assert [row["name"] for row in first["results"]] == ["rc-6", "rc-5", "rc-4"]
    assert first["next"] == f"http://testserver{APP}/tags/?filter=RC&page=2&per_page=3"
    assert first["previous"] is None
    assert [row["name"] for row in last["results"]] == ["rc-0"]
    assert last["next"] is None
    assert last["previous"] == f"http://testserver{APP}/tags/?filter=RC&page=2&per_page=3"


def test_an_index_lists_its_platforms(world, as_, client):
    index, (amd64, arm64) = push_index(client, world.app, "multi")

    row = as_("reader").get(f"{APP}/tags/multi/").json()

    assert (row["digest"], row["size"]) == (index, 0)
    assert [(p["architecture"], p["variant"], p["digest"]) for p in row["platforms"]] == [
        ("amd64", "", amd64), ("arm64", "v8", arm64)]
    assert all(p["os"] == "linux" and p["size"] > 0 for p in row["platforms"])


def test_a_page_number_that_is_not_a_number_is_refused(world, as_):
    response = as_("reader").get(f"{APP}/tags/?page=two")

    assert response.status_code == 400
    assert error_of(response)["field"] == "page"


@pytest.mark.parametrize("query", ["", "?filter=tag-99", "?page=200"])
def test_a_page_of_ten_thousand_tags_costs_a_fixed_number_of_statements(world, as_, client, query,
                                                                      django_assert_max_num_queries):
    manifest = Manifest.objects.get(digest=push_image(client, world.app, "base"))
    Tag.objects.bulk_create((Tag(repository=world.app, name=f"tag-{i}", manifest=manifest) for i in range(10_000)),
                            batch_size=5_000)
    reader = as_("reader")

    # the repository, the reader's role, the expired tags, the count, the page and its scan summaries
    with django_assert_max_num_queries(6):
        response = reader.get(f"{APP}/tags/{query}")

    assert response.status_code == 200
    assert response.json()["results"]


# --- one tag: read, retag, expiry, delete -------------------------------------------------------------------------

def test_a_writer_points_a_new_tag_at_a_manifest_and_moves_it(world, as_, images):
    old, new = images

    created = as_("writer").put(f"{APP}/tags/stable/", {"manifest_digest": old}, format="json")
    moved = as_("writer").put(f"{APP}/tags/stable/", {"manifest_digest": new}, format="json")

    assert (created.status_code, created.json()["digest"]) == (201, old)
    assert (moved.status_code, moved.json()["digest"]) == (200, new)
    assert TagEvent.objects.filter(tag="stable", actor=world.users["writer"]).count() == 2
    assert LogEntry.objects.filter(kind="tag_create", actor="walt", target="stable").count() == 2


def test_a_writer_sets_and_clears_an_expiry(world, as_, images):
    later = timezone.now() + timedelta(days=2)

    set_ = as_("writer").put(f"{APP}/tags/v1/", {"expires_at": later.isoformat()}, format="json")
    cleared = as_("writer").put(f"{APP}/tags/v1/", {"expires_at": None}, format="json")

    assert set_.status_code == 200
    assert set_.json()["expires_at"] is not None
    assert cleared.json()["expires_at"] is None
    assert Tag.objects.get(name="v1").expires_at is None


def test_a_retag_with_an_expiry_does_both(world, as_, images):
    old, _ = images
    later = timezone.now() + timedelta(days=2)

    response = as_("writer").put(f"{APP}/tags/tmp/", {"manifest_digest": old, "expires_at": later.isoformat()},
                                 format="json")

    assert response.status_code == 201
    assert Tag.objects.get(name="tmp").expires_at == later


@pytest.mark.parametrize(("tag", "body", "code", "field", "says"), [
    ("tmp", {"manifest_digest": "{old}", "expires_at": "2001-01-01T00:00:00Z"}, 400, "expires_at", "in the past"),
    ("v1", {"manifest_digest": "{old}", "expires_at": "2001-01-01T00:00:00Z"}, 400, "expires_at", "in the past"),
    ("v1", {"expires_at": "yesterday"}, 400, "expires_at", "expires_at"),
    ("tmp", {"manifest_digest": "sha256:" + "0" * 64}, 404, "manifest_digest", "no manifest"),
    ("tmp", {"manifest_digest": "latest"}, 400, "manifest_digest", "not a valid digest"),
    ("-bad", {"manifest_digest": "{old}"}, 400, "tag", "not a valid tag"),
    ("a..b%20c", {"manifest_digest": "{old}"}, 400, "tag", "not a valid tag"),
    ("missing", {"expires_at": None}, 404, "tag", "no tag 'missing'"),
    ("v1", {}, 400, None, "manifest_digest, expires_at, or both"),
])
def test_bad_changes_to_a_tag_are_refused_and_change_nothing(world, as_, images, tag, body, code, field, says):
    old, _ = images
    body = {key: value.format(old=old) if isinstance(value, str) else value for key, value in body.items()}
    before = state()

    response = as_("writer").put(f"{APP}/tags/{tag}/", body, format="json")

    assert response.status_code == code, response.content
    error = error_of(response)
    assert says in error["message"]
    assert error.get("field") == field
    assert state() == before


def test_a_writer_deletes_a_tag_and_it_is_gone(world, as_, images):
    response = as_("writer").delete(f"{APP}/tags/v2/")

    assert response.status_code == 204
    missing = as_("writer").get(f"{APP}/tags/v2/")
    assert missing.status_code == 404
    assert error_of(missing)["message"] == "There is no tag 'v2' in acme/app."
    assert as_("writer").delete(f"{APP}/tags/v2/").status_code == 404


# --- history and restore ------------------------------------------------------------------------------------------

def test_a_deleted_tag_comes_back_from_its_history(world, as_, images):
    _, new = images
    as_("writer").delete(f"{APP}/tags/v1/")

    history = as_("reader").get(f"{APP}/tags/v1/history/").json()
    restorable = history["results"][0]["restorable_digest"]
    restored = as_("writer").post(f"{APP}/tags/v1/restore/", {"manifest_digest": restorable}, format="json")

    assert history["count"] == 3
    assert [(e["kind"], e["actor"]) for e in history["results"]] == [("deleted", "walt"), ("moved", ""),
                                                                      ("pushed", "")]
    assert restorable == new
    assert (restored.status_code, restored.json()["name"], restored.json()["digest"]) == (200, "v1", new)
    assert LogEntry.objects.filter(kind="tag_restore", actor="walt").exists()


def test_a_moved_tag_is_restored_to_where_it_was(world, as_, images):
    old, _ = images

    response = as_("writer").post(f"{APP}/tags/v1/restore/", {"manifest_digest": old}, format="json")

    assert response.json()["digest"] == old
    assert Tag.objects.get(name="v1").manifest.digest == old


@pytest.mark.parametrize(("digest", "says"), [
    ("sha256:" + "1" * 64, "did not point at"),   # never in the repository
    ("{old}", "did not point at"),                 # in the repository, but v2 was only ever on `new`
    ("nonsense", "not a valid digest"),
])
def test_restoring_to_a_digest_the_tag_never_had_is_refused(world, as_, images, digest, says):
    old, _ = images
    before = state()

    response = as_("writer").post(f"{APP}/tags/v2/restore/", {"manifest_digest": digest.format(old=old)},
                                  format="json")

    assert response.status_code == 400
    assert says in error_of(response)["message"]
    assert state() == before


def test_restoring_to_a_deleted_manifest_is_refused(world, as_, images):
    old, _ = images
    Manifest.objects.filter(digest=old).delete()
    before = state()

    response = as_("writer").post(f"{APP}/tags/v1/restore/", {"manifest_digest": old}, format="json")

    assert response.status_code == 400
    assert "has been deleted" in error_of(response)["message"]
    assert state() == before


def test_the_repository_history_lists_every_tag_newest_first(world, as_, images):
    as_("writer").delete(f"{APP}/tags/v2/")

    body = as_("reader").get(f"{APP}/history/?per_page=2").json()

    assert body["count"] == 3   # v1 pushed, v1 moved, v2 deleted (v2 was made as a row, not pushed)
    assert [(e["tag"], e["kind"]) for e in body["results"]] == [("v2", "deleted"), ("v1", "moved")]
    assert body["next"] == f"http://testserver{APP}/history/?page=2&per_page=2"


# --- manifests ----------------------------------------------------------------------------------------------------

def test_a_manifest_shows_its_layers_labels_and_tags(world, as_, images):
    _, new = images

    body = as_("reader").get(f"{APP}/manifests/{new}/").json()

    assert (body["digest"], body["tags"], body["labels"]) == (new, ["v1", "v2"], {"maintainer": "acme"})
    assert [layer["command"] for layer in body["layers"]] == [
        "ADD file:0a1b2c in /", "RUN /bin/sh -c apk add --no-cache curl # buildkit"]
    assert (body["os"], body["architecture"], body["referrers"], body["platforms"]) == ("linux", "amd64", [], [])


def test_an_unknown_manifest_is_404(world, as_):
    response = as_("reader").get(f"{APP}/manifests/{sha256(b'none')}/")

    assert response.status_code == 404
    assert "no manifest" in error_of(response)["message"]


# --- who may ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body"), [
    ("delete", "tags/v1/", None),
    ("put", "tags/v3/", {"manifest_digest": "{old}"}),
    ("put", "tags/v1/", {"expires_at": "2999-01-01T00:00:00Z"}),
    ("post", "tags/v1/restore/", {"manifest_digest": "{old}"}),
])
def test_a_reader_and_a_read_only_token_may_not_change_tags(world, as_, images, method, path, body):
    old, _ = images
    body = {k: v.format(old=old) for k, v in body.items()} if body else None
    before = state()

    by_reader = getattr(as_("reader"), method)(f"{APP}/{path}", body, format="json")
    by_token = getattr(as_("token"), method)(f"{APP}/{path}", body, format="json")

    assert (by_reader.status_code, by_token.status_code) == (403, 403)
    assert "needs the write role on 'acme/app' and you have read" in error_of(by_reader)["message"]
    assert "lacks the repo:write scope" in error_of(by_token)["message"]
    assert state() == before


def test_a_token_with_repo_write_may_change_tags(world, images):
    client = as_user(world.users["owner"], frozenset({"repo:write"}))

    assert client.delete(f"{APP}/tags/v1/").status_code == 204


def test_a_real_bearer_token_needs_repo_write_to_delete_a_tag(world, client, images):
    read_only = make_api_token(world.users["owner"], "repo:read")
    writer = make_api_token(world.users["owner"], "repo:write")

    refused = client.delete(f"{APP}/tags/v1/", HTTP_AUTHORIZATION=f"Bearer {read_only}")
    allowed = client.delete(f"{APP}/tags/v1/", HTTP_AUTHORIZATION=f"Bearer {writer}")

    assert refused.status_code == 403
    assert allowed.status_code == 204


@pytest.mark.parametrize("path", ["tags/", "tags/v1/", "tags/v1/history/", "history/", "manifests/{new}/"])
def test_a_private_repository_looks_missing_to_outsiders(world, as_, images, path):
    path = path.format(new=images[1])

    hidden = as_("outsider").get(f"{APP}/{path}")
    missing = as_("outsider").get(f"/api/v1/repositories/acme/nothing/{path}")

    assert hidden.status_code == missing.status_code == 404
    assert error_of(hidden)["message"].replace("app", "X") == error_of(missing)["message"].replace("nothing", "X")


def test_anyone_reads_the_tags_of_a_public_repository(world, as_, client):
    push_image(client, world.site, "latest")

    response = as_("anonymous").get("/api/v1/repositories/acme/site/tags/")

    assert response.status_code == 200
    assert as_("anonymous").delete("/api/v1/repositories/acme/site/tags/latest/").status_code == 401


# --- routes -------------------------------------------------------------------------------------------------------

def test_tags_named_like_routes_are_still_tags_and_deep_names_work(world, as_, client, images):
    _, new = images
    for name in ("history", "star", "tags", "restore"):
        as_("writer").put(f"{APP}/tags/{name}/", {"manifest_digest": new}, format="json")
    push_image(client, world.builder, "v1")

    assert [as_("owner").get(f"{APP}/tags/{name}/").json()["name"] for name in ("history", "star", "tags")] == [
        "history", "star", "tags"]
    assert as_("owner").get(f"{APP}/tags/restore/history/").json()["count"] == 1
    assert as_("owner").get("/api/v1/repositories/acme/tools/builder/tags/").json()["results"][0]["name"] == "v1"
    assert as_("owner").get("/api/v1/repositories/acme/tools/builder/tags/v1/history/").json()["count"] == 1
