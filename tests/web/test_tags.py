"""The tags page, the tag actions, the tag history with restore, the manifest page and the builds tab.

alice owns alice/app (admin), bob may push to it (write), charlie may only pull (read).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.audit.models import LogEntry
from portal.repositories.models import Repository, Visibility
from registry_api.models import Tag, TagEvent
from scanning.models import ScanStatus, ScanSummary
from tests.factories import grant, make_repository, sha256
from tests.web.conftest import messages_of, text
from tests.web.images import config_of, make_image, make_index

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]
TAGS = "/repository/alice/app/tags/"
HISTORY = "/repository/alice/app/history/"
NEVER = "sha256:" + "e" * 64


@pytest.fixture
def app(alice: User, bob: User, charlie: User) -> Repository:
    repository = make_repository("alice/app")
    grant(repository, "write", user=bob)
    grant(repository, "read", user=charlie)
    return repository


def tag_names(response: object) -> list[str]:
    return [row.name for row in response.context["result"].rows]  # type: ignore[attr-defined]


def state(repository: Repository) -> tuple[list[tuple[str, str, object]], int]:
    """Everything a refused action must leave alone: the tags (name, digest, expiry) and the history."""
    tags = list(Tag.objects.filter(repository=repository).order_by("name")
                .values_list("name", "manifest__digest", "expires_at"))
    return tags, TagEvent.objects.filter(repository=repository).count()


# --- What the page shows ---------------------------------------------------------------------------------------------

def test_the_tags_page_shows_each_tags_columns(login_as: Login, app: Repository, charlie: User) -> None:
    digest = make_image(app, "v1", layers=[b"x" * 3000, b"y" * 2000])

    response = login_as(charlie).get(TAGS)
    page = text(response)

    assert response.status_code == 200 and tag_names(response) == ["v1"]
    row = response.context["result"].rows[0]
    assert row.digest == digest and row.image_size > 5000
    assert "not scanned" in page
    assert "4.9 KiB" in page or "5.0 KiB" in page or "5.1 KiB" in page   # config + 5000 bytes of layers
    assert f'href="/repository/alice/app/manifest/{digest}/"' in page and digest[:19] in page
    assert "podman pull --tls-verify=false testserver/alice/app:v1" in page
    assert "never" in page   # no expiry


def test_a_scanned_manifest_shows_its_status_and_severity_counts(login_as: Login, app: Repository,
                                                                  charlie: User) -> None:
    from registry_api.models import Manifest

    make_image(app, "v1")
    make_image(app, "v2")
    ScanSummary.objects.create(manifest=Manifest.objects.get(tags__name="v1"), status=ScanStatus.DONE, critical=1,
                               high=2)
    ScanSummary.objects.create(manifest=Manifest.objects.get(tags__name="v2"), status=ScanStatus.SCANNING)

    page = text(login_as(charlie).get(TAGS))

    assert "1 critical" in page and "2 high" in page and ">scanning<" in page and "not scanned" not in page


def test_an_index_expands_into_one_row_per_platform(login_as: Login, app: Repository, charlie: User) -> None:
    amd64 = make_image(app, None, layers=[b"a" * 2048])
    arm64 = make_image(app, None, layers=[b"b" * 4096])
    make_index(app, "multi", {"linux/amd64": amd64, "linux/arm64/v8": arm64})

    response = login_as(charlie).get(TAGS)
    page = text(response)

    platforms = response.context["result"].rows[0].platforms
    assert [(p.os, p.architecture, p.variant, p.digest) for p in platforms] == [
        ("linux", "amd64", "", amd64), ("linux", "arm64", "v8", arm64)]
    assert re.findall(r'data-platform="([^"]+)"', page) == ["linux/amd64", "linux/arm64/v8"]
    assert f"/repository/alice/app/manifest/{arm64}/" in page and "index · 2 platforms" in page


def test_tags_are_paginated_newest_first_and_a_page_past_the_end_shows_the_last(
    login_as: Login, app: Repository, charlie: User,
) -> None:
    make_image(app, "v0")
    start = timezone.now() - timedelta(hours=1)
    Tag.objects.bulk_create([Tag(repository=app, name=f"t{i:03}", manifest_id=Tag.objects.get(name="v0").manifest_id)
                             for i in range(120)])
    for i in range(120):   # bulk_create stamps them all alike; spread them out, t119 newest
        Tag.objects.filter(repository=app, name=f"t{i:03}").update(updated_at=start + timedelta(seconds=i))
    Tag.objects.filter(name="v0").update(updated_at=start - timedelta(days=1))
    client = login_as(charlie)

    first, third, beyond = client.get(TAGS), client.get(TAGS + "?page=3"), client.get(TAGS + "?page=99")

    assert tag_names(first)[:3] == ["t119", "t118", "t117"] and len(tag_names(first)) == 50
    assert tag_names(third)[-1] == "v0" and len(tag_names(third)) == 21
    assert tag_names(beyond) == tag_names(third)
    assert "Page 3 of 3" in text(beyond)


def test_the_filter_is_a_case_insensitive_substring_and_pages_keep_it(login_as: Login, app: Repository,
                                                                        charlie: User) -> None:
    make_image(app, "base")
    manifest_id = Tag.objects.get(name="base").manifest_id
    Tag.objects.bulk_create([Tag(repository=app, name=f"{kind}-{i}", manifest_id=manifest_id)
                             for kind in ("Release", "nightly") for i in range(60)])

    response = login_as(charlie).get(TAGS + "?filter=release")

    assert response.context["result"].total == 60 and all(n.startswith("Release") for n in tag_names(response))
    assert 'href="?filter=release&amp;page=2"' in text(response)


def test_a_reader_sees_no_tag_controls(login_as: Login, app: Repository, charlie: User) -> None:
    make_image(app, "v1")

    page = text(login_as(charlie).get(TAGS))

    assert 'name="action"' not in page and "Delete tag" not in page and "Add tag" not in page


def test_a_writer_sees_delete_retag_and_expiry(login_as: Login, app: Repository, bob: User) -> None:
    make_image(app, "v1")

    page = text(login_as(bob).get(TAGS))

    for action in ("delete", "retag", "expiry"):
        assert f'name="action" value="{action}"' in page


# --- Actions ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    {"action": "delete", "tag": "v1"},
    {"action": "retag", "tag": "v1", "digest": "DIGEST", "name": "v2"},
    {"action": "expiry", "tag": "v1", "expires_at": "2099-01-01T00:00"},
])
def test_a_readers_post_is_refused_and_changes_nothing(login_as: Login, app: Repository, charlie: User,
                                                        data: dict[str, str]) -> None:
    digest = make_image(app, "v1")
    before = state(app)

    response = login_as(charlie).post(TAGS, {k: v.replace("DIGEST", digest) for k, v in data.items()})

    assert response.status_code == 403 and state(app) == before
    assert not LogEntry.objects.filter(kind__startswith="tag_").exists()


def test_a_post_from_someone_who_may_not_read_is_a_not_found(client: Client, login_as: Login, app: Repository,
                                                              alice: User) -> None:
    make_image(app, "v1")
    before = state(app)

    anonymous = client.post(TAGS, {"action": "delete", "tag": "v1"})

    assert anonymous.status_code == 404 and state(app) == before


def test_a_writer_deletes_a_tag(login_as: Login, app: Repository, bob: User) -> None:
    digest = make_image(app, "v1")
    make_image(app, "v2")

    response = login_as(bob).post(TAGS + "?page=1", {"action": "delete", "tag": "v1", "confirm": "1"}, follow=True)

    assert response.redirect_chain == [(TAGS + "?page=1", 302)]
    assert tag_names(response) == ["v2"]
    assert "Deleted the tag v1; the history can restore it." in messages_of(response)
    event = TagEvent.objects.get(repository=app, tag="v1", kind="deleted")
    assert event.previous_digest == digest and event.actor == bob
    assert LogEntry.objects.filter(kind="tag_delete", actor="bob", target="v1").exists()


def test_a_writer_adds_a_tag_to_a_manifest(login_as: Login, app: Repository, bob: User) -> None:
    digest = make_image(app, "v1")

    response = login_as(bob).post(TAGS, {"action": "retag", "tag": "v1", "digest": digest, "name": "stable"},
                                  follow=True)

    assert Tag.objects.get(repository=app, name="stable").manifest.digest == digest
    assert f"The tag stable now points at {digest}." in messages_of(response)


@pytest.mark.parametrize(("name", "message"), [
    ("Bad Name!", "'Bad Name!' is not a valid tag"),
    (".hidden", "'.hidden' is not a valid tag"),
    ("x" * 129, "is not a valid tag"),
])
def test_a_bad_tag_name_gets_a_message_and_changes_nothing(login_as: Login, app: Repository, bob: User, name: str,
                                                           message: str) -> None:
    digest = make_image(app, "v1")
    before = state(app)

    response = login_as(bob).post(TAGS, {"action": "retag", "tag": "v1", "digest": digest, "name": name})

    assert response.status_code == 400 and state(app) == before
    assert message in response.context["failed_form"].errors["name"][0]
    assert "Nothing was changed." in text(response) and 'data-testid="action-error"' in text(response)


def test_retagging_to_a_manifest_not_in_the_repository_is_refused(login_as: Login, app: Repository,
                                                                   bob: User) -> None:
    make_image(app, "v1")
    before = state(app)

    response = login_as(bob).post(TAGS, {"action": "retag", "tag": "v1", "digest": NEVER, "name": "v2"})

    assert response.status_code == 400 and state(app) == before
    assert f"There is no manifest {NEVER} in alice/app." in text(response)


def test_a_writer_sets_and_clears_an_expiry(login_as: Login, app: Repository, bob: User) -> None:
    make_image(app, "v1")
    client = login_as(bob)

    set_ = client.post(TAGS, {"action": "expiry", "tag": "v1", "expires_at": "2099-05-04T03:02"}, follow=True)
    expiry = Tag.objects.get(name="v1").expires_at
    shown = text(client.get(TAGS))
    cleared = client.post(TAGS, {"action": "expiry", "tag": "v1", "expires_at": "garbage", "clear": "1"},
                          follow=True)

    assert expiry is not None and expiry.isoformat() == "2099-05-04T03:02:00+00:00"
    assert "The tag v1 expires at 2099-05-04 03:02 UTC." in messages_of(set_)
    assert "2099-05-04 03:02" in shown and 'value="2099-05-04T03:02"' in shown
    assert Tag.objects.get(name="v1").expires_at is None
    assert "The tag v1 no longer expires." in messages_of(cleared)


@pytest.mark.parametrize(("value", "message"), [
    ("2001-01-01T00:00", "The expiry is in the past"),
    ("next tuesday", "Enter a valid date/time."),
    ("", "Pick a date and time, or use Clear to keep the tag."),
])
def test_a_bad_expiry_gets_a_message_and_changes_nothing(login_as: Login, app: Repository, bob: User, value: str,
                                                         message: str) -> None:
    make_image(app, "v1")
    before = state(app)

    response = login_as(bob).post(TAGS, {"action": "expiry", "tag": "v1", "expires_at": value})

    assert response.status_code == 400 and state(app) == before
    assert message in text(response)


def test_deleting_a_tag_that_is_gone_gets_a_message(login_as: Login, app: Repository, bob: User) -> None:
    response = login_as(bob).post(TAGS, {"action": "delete", "tag": "gone"})

    assert response.status_code == 400 and "There is no tag 'gone' in alice/app." in html.unescape(text(response))


# --- History and restore -------------------------------------------------------------------------------------------

def test_the_history_lists_each_change_with_its_actor_newest_first(login_as: Login, app: Repository, alice: User,
                                                                   bob: User, charlie: User) -> None:
    first = make_image(app, "v1", actor_id=alice.pk)
    make_image(app, "v1", layers=[b"second"], actor_id=bob.pk)
    login_as(bob).post(TAGS, {"action": "delete", "tag": "v1", "confirm": "1"})

    response = login_as(charlie).get(HISTORY)

    entries = response.context["entries"]
    assert [(e.kind, e.actor) for e in entries] == [("deleted", "bob"), ("moved", "bob"), ("pushed", "alice")]
    assert entries[1].restorable_digest == first
    assert 'name="action"' not in text(response)   # a reader may not restore


def test_a_writer_restores_a_deleted_tag_with_one_click(login_as: Login, app: Repository, bob: User) -> None:
    digest = make_image(app, "v1")
    client = login_as(bob)
    client.post(TAGS, {"action": "delete", "tag": "v1", "confirm": "1"})
    page = text(client.get(HISTORY))
    assert f'name="digest" value="{digest}"' in page and 'data-testid="restore"' in page

    response = client.post(HISTORY, {"action": "restore", "tag": "v1", "digest": digest}, follow=True)

    assert Tag.objects.get(repository=app, name="v1").manifest.digest == digest
    assert f"Restored the tag v1 to {digest}." in messages_of(response)
    assert LogEntry.objects.filter(kind="tag_restore", target="v1").exists()


def test_restoring_to_a_digest_the_tag_never_had_is_refused(login_as: Login, app: Repository, bob: User) -> None:
    make_image(app, "v1")
    other = make_image(app, "other", layers=[b"other"])
    before = state(app)

    for digest in (NEVER, other):
        response = login_as(bob).post(HISTORY, {"action": "restore", "tag": "v1", "digest": digest})

        assert response.status_code == 400 and state(app) == before
        assert f"did not point at {digest}" in text(response)


def test_a_reader_may_not_restore(login_as: Login, app: Repository, bob: User, charlie: User) -> None:
    digest = make_image(app, "v1")
    login_as(bob).post(TAGS, {"action": "delete", "tag": "v1", "confirm": "1"})
    before = state(app)

    response = login_as(charlie).post(HISTORY, {"action": "restore", "tag": "v1", "digest": digest})

    assert response.status_code == 403 and state(app) == before


def test_the_history_can_show_one_tag(login_as: Login, app: Repository, charlie: User) -> None:
    make_image(app, "v1")
    make_image(app, "v2")

    response = login_as(charlie).get(HISTORY + "?tag=v2")

    assert [e.tag for e in response.context["entries"]] == ["v2"]


# --- Manifest and builds --------------------------------------------------------------------------------------------

def test_the_manifest_page_shows_layers_commands_labels_annotations_tags_and_referrers(
    login_as: Login, app: Repository, charlie: User,
) -> None:
    config = config_of("COPY app /app", "/bin/sh -c #(nop)  ENV A=1", "RUN make install",
                       labels={"org.opencontainers.image.source": "https://example.com/app"})
    digest = make_image(app, "v1", layers=[b"one", b"two"], config=config, annotations={"team": "platform"})
    make_image(app, "v1.0", layers=[b"one", b"two"], config=config, annotations={"team": "platform"})
    signature = make_image(app, None, layers=[b"sig"], artifact_type="application/vnd.dev.cosign.artifact.sig.v1+json",
                           subject={"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                                    "size": 1})

    response = login_as(charlie).get(f"/repository/alice/app/manifest/{digest}/")
    page = text(response)

    detail = response.context["detail"]
    assert [(layer.digest, layer.command) for layer in detail.layers] == [
        (sha256(b"one"), "COPY app /app"), (sha256(b"two"), "RUN make install")]
    assert "https://example.com/app" in page and "platform" in page
    assert detail.tags == ["v1", "v1.0"]
    assert f"/repository/alice/app/manifest/{signature}/" in page and "cosign" in page
    assert f"podman pull --tls-verify=false testserver/alice/app@{digest}" in page


def test_the_manifest_page_of_an_index_links_its_platforms(login_as: Login, app: Repository,
                                                           charlie: User) -> None:
    amd64 = make_image(app, None, layers=[b"a"])
    index = make_index(app, "multi", {"linux/amd64": amd64})

    page = text(login_as(charlie).get(f"/repository/alice/app/manifest/{index}/"))

    assert f'href="/repository/alice/app/manifest/{amd64}/"' in page and "linux/amd64" in page


def test_a_missing_manifest_is_a_not_found(login_as: Login, app: Repository, charlie: User) -> None:
    assert login_as(charlie).get(f"/repository/alice/app/manifest/{NEVER}/").status_code == 404


def test_the_builds_tab_shows_the_build_list(login_as: Login, app: Repository, charlie: User) -> None:
    page = text(login_as(charlie).get("/repository/alice/app/builds/"))

    assert 'data-testid="builds"' in page and "No builds yet." in page


# --- Who may see ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["tags/", "history/", "builds/", f"manifest/{NEVER}/", "", "tags/?page=2"])
def test_an_outsider_gets_the_same_not_found_as_for_a_missing_repository(login_as: Login, suffix: str,
                                                                         alice: User) -> None:
    from tests.factories import make_user

    make_image(make_repository("alice/secret"), "v1")
    client = login_as(make_user("otto"))

    private = client.get(f"/repository/alice/secret/{suffix}")
    missing = client.get(f"/repository/alice/nothere/{suffix}")

    assert private.status_code == missing.status_code == 404
    assert text(private) == text(missing)


def test_anyone_may_read_the_tags_of_a_public_repository_but_not_change_them(client: Client, alice: User) -> None:
    public = make_repository("alice/pub", Visibility.PUBLIC)
    make_image(public, "v1")

    page = client.get("/repository/alice/pub/tags/")
    refused = client.post("/repository/alice/pub/tags/", {"action": "delete", "tag": "v1"})

    assert page.status_code == 200 and tag_names(page) == ["v1"] and 'name="action"' not in text(page)
    assert refused.status_code == 403 and Tag.objects.filter(repository=public, name="v1").exists()
