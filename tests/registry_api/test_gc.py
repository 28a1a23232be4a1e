"""Garbage collection (registry_api/services/gc.py): what goes, what stays, and the runs' records."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from portal.access import Principal
from portal.accounts.services import delete_organization
from portal.repositories.services import delete_repository
from registry_api import queries, services, storage
from registry_api.models import Blob, BlobLink, GcOrphan, GcRun, Manifest, TagEvent, Upload
from registry_api.services import gc
from registry_api.services.tags import delete_tag, restore_tag
from tests.factories import make_organization, make_repository, make_user, sha256
from tests.registry_api.helpers import OCI_INDEX, OCI_MANIFEST, auth, push_blob
from tests.registry_api.tagged import image, push_image, push_index
from tests.s3 import unique_prefix

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["filesystem", "s3"])
def gc_storage(request, settings, storage) -> None:  # type: ignore[no-untyped-def]
    """Every rule runs on the filesystem and on an S3 bucket (moto's): what a run frees is gone from either."""
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        settings.WHARF_STORAGE = server.storage_settings(unique_prefix("gc"), redirect=False)


def blob_keys() -> set[str]:
    return set(storage.backend().walk("blobs/"))


def keys_of(seed: str) -> set[str]:
    blobs, _ = image(seed)
    return {storage.blob_key(sha256(blob)) for blob in blobs}


def pulls(client: Any, name: str, reference: str) -> bool:
    """The manifest and every blob it names come back, each matching its digest."""
    response = client.get(f"/v2/{name}/manifests/{reference}", HTTP_AUTHORIZATION=auth(name, "pull"),
                          HTTP_ACCEPT=f"{OCI_MANIFEST}, {OCI_INDEX}")
    if response.status_code != 200:
        return False
    document = json.loads(response.content)
    descriptors = [document.get("config"), *document.get("layers", [])]
    for child in document.get("manifests", []):
        if not pulls(client, name, child["digest"]):
            return False
    for descriptor in filter(None, descriptors):
        blob = client.get(f"/v2/{name}/blobs/{descriptor['digest']}", HTTP_AUTHORIZATION=auth(name, "pull"))
        body = b"".join(blob.streaming_content) if blob.streaming else blob.content
        if blob.status_code != 200 or "sha256:" + hashlib.sha256(body).hexdigest() != descriptor["digest"]:
            return False
    return True


def test_a_manifest_deleted_by_digest_goes_with_its_blobs_and_their_bytes(client, repo):
    kept = push_image(client, repo, "v1", "kept")
    gone = push_image(client, repo, "v2", "gone")
    services.delete_manifest(repo, gone)

    run = gc.run(grace_seconds=0)

    assert (run.manifests_removed, run.links_removed, run.blobs_removed) == (0, 3, 3)
    assert run.bytes_freed == sum(len(blob) for blob in image("gone")[0])
    assert blob_keys() == keys_of("kept")
    assert not Blob.objects.filter(digest__in=[sha256(b) for b in image("gone")[0]]).exists()
    assert pulls(client, "alice/app", "v1") and pulls(client, "alice/app", kept)
    assert run.finished_at is not None and run.error == ""


def test_an_untagged_manifest_goes_once_its_history_has_passed(client, repo, settings):
    digest = push_image(client, repo, "v1", "old")
    push_image(client, repo, "v1", "new")   # moves the tag: the history keeps "old" restorable

    assert gc.run(grace_seconds=0).manifests_removed == 0
    assert Manifest.objects.filter(digest=digest).exists() and keys_of("old") <= blob_keys()

    TagEvent.objects.update(created_at=timezone.now() - timedelta(days=settings.WHARF_TAG_HISTORY_DAYS, hours=1))
    run = gc.run(grace_seconds=0)

    assert (run.manifests_removed, run.blobs_removed) == (1, 3)
    assert not Manifest.objects.filter(digest=digest).exists()
    assert blob_keys() == keys_of("new")


def test_a_deleted_tag_restorable_from_the_history_keeps_its_manifest_and_blobs(client, repo, alice):
    digest = push_image(client, repo, "v1", "a")
    delete_tag(repo, "v1", alice.pk)

    run = gc.run(grace_seconds=0)

    assert (run.manifests_removed, run.links_removed, run.blobs_removed) == (0, 0, 0)
    restore_tag(repo, "v1", digest, alice.pk)
    assert pulls(client, "alice/app", "v1")


def test_nothing_younger_than_the_grace_period_goes(client, repo):
    push_blob(client, "alice/app", b"a layer whose manifest has not arrived yet")
    digest = push_image(client, repo, None, "untagged")

    assert gc.run().blobs_removed == 0   # the default grace: an hour

    for model in (Blob, BlobLink, Manifest):
        model.objects.update(created_at=timezone.now() - timedelta(hours=2))
    run = gc.run()
    assert (run.manifests_removed, run.links_removed, run.blobs_removed) == (1, 4, 4)
    assert blob_keys() == set() and not Manifest.objects.filter(digest=digest).exists()


def test_an_index_keeps_its_children_and_frees_them_when_it_goes(client, repo):
    index, children = push_index(client, repo, "multi")

    assert gc.run(grace_seconds=0).manifests_removed == 0
    assert pulls(client, "alice/app", "multi")

    services.delete_manifest(repo, index)
    TagEvent.objects.all().delete()   # and its history: nothing may restore it
    run = gc.run(grace_seconds=0)

    assert run.manifests_removed == 2 and run.blobs_removed == 6
    assert not Manifest.objects.filter(digest__in=children).exists() and blob_keys() == set()


def test_a_referrer_stays_while_its_subject_is_there(client, repo):
    subject = push_image(client, repo, "v1", "subject")
    size = Manifest.objects.get(digest=subject).size
    referrer = push_image(client, repo, None, "signature",
                          subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": size})

    assert gc.run(grace_seconds=0).manifests_removed == 0
    assert Manifest.objects.filter(digest=referrer).exists()

    services.delete_manifest(repo, subject)
    TagEvent.objects.all().delete()
    run = gc.run(grace_seconds=0)

    assert run.manifests_removed == 1 and not Manifest.objects.filter(digest=referrer).exists()
    assert blob_keys() == set()


def test_a_blob_another_repository_links_keeps_its_bytes(client, repo, alice):
    other = make_repository("alice/other")
    push_image(client, repo, "v1", "shared")
    push_image(client, other, "v1", "shared")
    delete_repository(Principal.for_user(alice), repo)

    run = gc.run(grace_seconds=0)

    assert (run.links_removed, run.blobs_removed) == (0, 0)   # the repository's links went with it
    assert blob_keys() == keys_of("shared") and pulls(client, "alice/other", "v1")


def test_a_deleted_repository_frees_its_space_on_the_next_run(client, repo, alice):
    push_image(client, repo, "v1", "a")
    response = client.post("/v2/alice/app/blobs/uploads/", HTTP_AUTHORIZATION=auth("alice/app"))
    client.patch(response["Location"], data=b"half a layer", content_type="application/octet-stream",
                 HTTP_AUTHORIZATION=auth("alice/app"))
    delete_repository(Principal.for_user(alice), repo)

    run = gc.run(grace_seconds=0)

    assert run.blobs_removed == 3 and run.objects_removed == 1   # the open upload's bytes, row gone with it
    assert list(storage.backend().walk("")) == [] and not Blob.objects.exists()


def test_a_deleted_organization_frees_its_space_on_the_next_run(client, alice):
    organization = make_organization("acme", owner=alice)
    push_image(client, make_repository("acme/app"), "v1", "a")
    push_image(client, make_repository("acme/tools"), "v1", "b")
    delete_organization(Principal.for_user(alice), organization)

    assert gc.run(grace_seconds=0).blobs_removed == 6
    assert blob_keys() == set()


def test_a_dry_run_changes_nothing_and_counts_what_a_run_removes(client, repo):
    index, _ = push_index(client, repo, "multi")
    services.delete_manifest(repo, index)
    TagEvent.objects.all().delete()
    storage.backend().writer("blobs/sha256/00/00" + "1" * 62).close()   # debris: bytes with no row
    before = (blob_keys(), Manifest.objects.count(), BlobLink.objects.count(), Blob.objects.count())
    garbage_bytes = sum(Blob.objects.values_list("size", flat=True))

    dry = gc.run(dry_run=True, grace_seconds=0)

    assert (blob_keys(), Manifest.objects.count(), BlobLink.objects.count(), Blob.objects.count()) == before
    assert not GcOrphan.objects.exists()
    real = gc.run(grace_seconds=0)
    counts = ("manifests_removed", "links_removed", "blobs_removed", "objects_removed", "bytes_freed")
    assert [getattr(dry, field) for field in counts] == [getattr(real, field) for field in counts] \
        == [2, 6, 6, 1, garbage_bytes]
    assert dry.dry_run and not real.dry_run and GcRun.objects.count() == 2


def test_storage_debris_goes_only_once_it_has_been_seen_for_the_grace_period(repo):
    orphan = storage.blob_key("sha256:" + "ab" * 32)
    writer = storage.backend().writer(orphan)
    writer.write(b"bytes whose row never came")
    writer.close()
    stale_upload = storage.upload_key("3f2e8b0c-6d0e-4a51-9c3b-1f1d2c3b4a5e")
    storage.backend().writer(stale_upload).close()
    live = Upload.objects.create(repository_id=repo.pk)
    storage.backend().writer(live.storage_key).close()

    assert gc.run().objects_removed == 0   # first seen now
    assert GcOrphan.objects.count() == 2

    GcOrphan.objects.update(first_seen=timezone.now() - timedelta(hours=2))
    run = gc.run()

    assert run.objects_removed == 2 and run.bytes_freed == len(b"bytes whose row never came")
    assert list(storage.backend().walk("")) == [live.storage_key] and not GcOrphan.objects.exists()


def test_an_upload_finishing_a_blob_as_its_old_bytes_are_collected_fails_and_leaves_no_row(client, repo, monkeypatch):
    data = b"a layer uploaded again just as it is collected"
    push_blob(client, "alice/app", data)
    BlobLink.objects.all().delete()
    Blob.objects.all().delete()   # a run has removed the row and is about to remove the bytes
    backend = storage.backend()
    real_move = backend.move

    def move_then_collect(src: str, dst: str) -> None:
        real_move(src, dst)   # the bytes are already there: the upload's are dropped
        gc._remove_bytes([(sha256(data), len(data))])

    monkeypatch.setattr(backend, "move", move_then_collect)
    response = client.post(f"/v2/alice/app/blobs/uploads/?digest={sha256(data)}", data=data,
                           content_type="application/octet-stream", HTTP_AUTHORIZATION=auth("alice/app"))

    assert response.status_code == 503
    assert not Blob.objects.exists() and not Upload.objects.exists()
    monkeypatch.setattr(backend, "move", real_move)
    push_blob(client, "alice/app", data)   # the client's retry
    assert client.get(f"/v2/alice/app/blobs/{sha256(data)}", HTTP_AUTHORIZATION=auth("alice/app")).status_code == 200


def test_the_command_prints_what_it_removed_or_would_remove(client, repo):
    services.delete_manifest(repo, push_image(client, repo, "v1", "a"))
    out = StringIO()

    call_command("gc", "--dry-run", "--grace", "0", stdout=out)
    assert out.getvalue().startswith("would remove: 0 manifests, 3 blob links, 3 blobs,")
    call_command("gc", "--grace", "0", stdout=out)
    assert "removed: 0 manifests, 3 blob links, 3 blobs, 0 storage objects" in out.getvalue()
    assert blob_keys() == set()


def test_a_failed_run_is_recorded_with_its_error(repo, monkeypatch):
    monkeypatch.setattr(gc, "_sweep_storage", lambda *args: (_ for _ in ()).throw(OSError("bucket unreachable")))

    with pytest.raises(OSError):
        gc.run(grace_seconds=0)

    run = GcRun.objects.get()
    assert run.error == "OSError: bucket unreachable" and run.finished_at is not None


def test_the_periodic_task_runs_a_collection(client, repo):
    from registry_api import tasks

    services.delete_manifest(repo, push_image(client, repo, "v1", "a"))
    BlobLink.objects.update(created_at=timezone.now() - timedelta(days=1))
    Blob.objects.update(created_at=timezone.now() - timedelta(days=1))

    assert tasks.collect_garbage.apply().get() == 3
    assert GcRun.objects.get().blobs_removed == 3


@pytest.mark.django_db(transaction=True)
def test_a_push_holding_its_links_keeps_them_from_a_run_at_the_same_moment(client):
    make_user("alice")
    repo = make_repository("alice/app")
    blobs, body = image("racing")
    for blob in blobs:
        push_blob(client, "alice/app", blob)
    looked, done = threading.Event(), threading.Event()

    def push_slowly() -> None:   # put_manifest's steps, with a run starting between the check and the insert
        try:
            with queries.write_transaction():
                ids = queries.linked_blob_ids(repo, {sha256(blob) for blob in blobs})
                looked.set()
                done.wait(0.5 if connection.vendor == "postgresql" else 0.2)
                fields = {"media_type": OCI_MANIFEST, "artifact_type": "", "subject_digest": "", "annotations": {},
                          "content": body}
                manifest = queries.add_manifest(repo, sha256(body), fields, list(ids.values()), [])
                queries.set_tag(repo, "v1", manifest)
        finally:
            connection.close()

    pusher = threading.Thread(target=push_slowly)
    pusher.start()
    looked.wait(5)
    run = gc.run(grace_seconds=0)   # PostgreSQL: passes over the held links; SQLite: waits for the push
    done.set()
    pusher.join()

    assert run.links_removed == 0 and run.blobs_removed == 0
    assert pulls(client, "alice/app", "v1")
