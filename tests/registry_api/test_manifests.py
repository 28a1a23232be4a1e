"""Manifests and indexes: push, pull, HEAD and delete by tag and by digest, and every way a push is refused."""

from __future__ import annotations

import hashlib
import json

import pytest

from registry_api.models import Manifest, Tag, TagEvent
from tests.factories import bearer, make_repository, sha256
from tests.registry_api.helpers import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    EMPTY_CONFIG,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    artifact,
    auth,
    descriptor,
    docker_image,
    encode,
    index_of,
    oci_image,
    push_blob,
    push_manifest,
    put_manifest,
)

NAME = "alice/app"
SBOM = "application/vnd.example.sbom.v1"


def get(client, reference, name=NAME, method="get"):
    return getattr(client, method)(f"/v2/{name}/manifests/{reference}", HTTP_AUTHORIZATION=auth(name))


def delete(client, reference, name=NAME):
    return client.delete(f"/v2/{name}/manifests/{reference}", HTTP_AUTHORIZATION=auth(name))


def error_code(response):
    return response.json()["errors"][0]["code"]


def assert_nothing_stored():
    assert Manifest.objects.count() == 0
    assert Tag.objects.count() == 0
    assert TagEvent.objects.count() == 0


def build(client, kind):
    """(media type, manifest bytes) of each kind of manifest, with everything it references pushed."""
    if kind == "docker":
        return DOCKER_MANIFEST, docker_image(client, NAME)
    if kind == "oci":
        return OCI_MANIFEST, oci_image(client, NAME)
    if kind == "artifact":
        return OCI_MANIFEST, artifact(client, NAME, SBOM)
    child_type = DOCKER_MANIFEST if kind == "docker-list" else OCI_MANIFEST
    children = [docker_image(client, NAME, seed) if kind == "docker-list" else oci_image(client, NAME, seed)
                for seed in ("amd64", "arm64")]
    for child in children:
        push_manifest(client, NAME, sha256(child), child, child_type)
    list_type = DOCKER_MANIFEST_LIST if kind == "docker-list" else OCI_INDEX
    return list_type, index_of(list_type, [(child_type, child) for child in children])


KINDS = ["docker", "docker-list", "oci", "oci-index", "artifact"]


# --- push and pull -----------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_a_manifest_pushed_by_tag_comes_back_byte_for_byte(client, alice, kind):
    media_type, body = build(client, kind)

    response = put_manifest(client, NAME, "v1", body, media_type)

    assert response.status_code == 201
    assert response["Docker-Content-Digest"] == sha256(body)
    assert response["Location"] == f"/v2/{NAME}/manifests/{sha256(body)}"
    for reference in ("v1", sha256(body)):
        pulled = get(client, reference)
        assert pulled.status_code == 200
        assert pulled.content == body
        assert pulled["Content-Type"] == media_type
        assert pulled["Docker-Content-Digest"] == sha256(body)
        assert pulled["Content-Length"] == str(len(body))


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_a_manifest_pushed_by_digest_is_stored_without_a_tag(client, alice, kind):
    media_type, body = build(client, kind)

    response = put_manifest(client, NAME, sha256(body), body, media_type)

    assert response.status_code == 201
    assert response["Location"] == f"/v2/{NAME}/manifests/{sha256(body)}"
    assert get(client, sha256(body)).content == body
    assert not Tag.objects.filter(manifest__digest=sha256(body)).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_head_answers_the_headers_of_get_without_a_body(client, alice, kind):
    media_type, body = build(client, kind)
    push_manifest(client, NAME, "v1", body, media_type)

    for reference in ("v1", sha256(body)):
        response = get(client, reference, method="head")
        assert response.status_code == 200
        assert response.content == b""
        assert response["Content-Length"] == str(len(body))
        assert response["Content-Type"] == media_type
        assert response["Docker-Content-Digest"] == sha256(body)


@pytest.mark.django_db
def test_an_artifact_keeps_its_artifact_type_and_empty_config(client, alice):
    body = artifact(client, NAME, SBOM, annotations={"org.example.kind": "sbom"})

    push_manifest(client, NAME, "sbom", body, OCI_MANIFEST)

    stored = Manifest.objects.get(digest=sha256(body))
    assert stored.artifact_type == SBOM
    assert json.loads(get(client, "sbom").content)["config"] == {
        "mediaType": OCI_EMPTY, "digest": sha256(EMPTY_CONFIG), "size": 2}


@pytest.mark.django_db
def test_a_manifest_with_a_subject_answers_the_oci_subject_header(client, alice):
    image = oci_image(client, NAME)
    push_manifest(client, NAME, "v1", image, OCI_MANIFEST)
    body = artifact(client, NAME, SBOM, subject=descriptor(OCI_MANIFEST, image))

    response = put_manifest(client, NAME, sha256(body), body, OCI_MANIFEST)

    assert response.status_code == 201
    assert response["OCI-Subject"] == sha256(image)


@pytest.mark.django_db
def test_a_subject_the_registry_does_not_hold_is_still_accepted(client, alice):
    # The spec: a registry MUST NOT refuse a manifest because its subject is missing.
    absent = encode({"schemaVersion": 2, "absent": True})
    body = artifact(client, NAME, SBOM, subject=descriptor(OCI_MANIFEST, absent))

    response = put_manifest(client, NAME, "sig", body, OCI_MANIFEST)

    assert response.status_code == 201
    assert response["OCI-Subject"] == sha256(absent)


@pytest.mark.django_db
def test_a_manifest_without_a_subject_has_no_oci_subject_header(client, alice):
    response = put_manifest(client, NAME, "v1", oci_image(client, NAME), OCI_MANIFEST)
    assert response.status_code == 201
    assert not response.has_header("OCI-Subject")


@pytest.mark.django_db
def test_a_manifest_can_be_pushed_by_its_sha512_digest(client, alice):
    body = oci_image(client, NAME)
    digest = "sha512:" + hashlib.sha512(body).hexdigest()

    response = put_manifest(client, NAME, digest, body, OCI_MANIFEST)

    assert response.status_code == 201
    assert response["Docker-Content-Digest"] == digest
    assert get(client, digest).content == body


@pytest.mark.django_db
def test_pushing_the_same_manifest_twice_is_idempotent(client, alice):
    body = oci_image(client, NAME)
    push_manifest(client, NAME, "v1", body, OCI_MANIFEST)

    response = put_manifest(client, NAME, "v1", body, OCI_MANIFEST)

    assert response.status_code == 201
    assert Manifest.objects.count() == 1
    assert list(TagEvent.objects.values_list("kind", flat=True)) == ["pushed"]


# --- what a push must reference ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_manifest_referencing_an_unknown_blob_is_refused(client, alice):
    config = b'{"never": "pushed"}'
    push_blob(client, NAME, b"layer")
    body = encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                   "layers": [descriptor(OCI_LAYER, b"layer")]})

    response = put_manifest(client, NAME, "v1", body, OCI_MANIFEST)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert_nothing_stored()


@pytest.mark.django_db
def test_a_blob_pushed_only_to_another_repository_is_unknown_here(client, alice):
    make_repository("alice/other")
    body = oci_image(client, "alice/other")   # config and layer go to alice/other only

    response = put_manifest(client, NAME, "v1", body, OCI_MANIFEST)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert_nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["nowhere", "another repository"])
def test_an_index_referencing_a_child_manifest_the_repository_lacks_is_refused(client, alice, where):
    make_repository("alice/other")
    child = oci_image(client, "alice/other")
    if where == "another repository":
        push_manifest(client, "alice/other", "v1", child, OCI_MANIFEST)
    body = index_of(OCI_INDEX, [(OCI_MANIFEST, child)])

    response = put_manifest(client, NAME, "v1", body, OCI_INDEX)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert not Manifest.objects.filter(repository__full_name=NAME).exists()
    assert not Tag.objects.filter(repository__full_name=NAME).exists()


@pytest.mark.django_db
def test_a_put_by_digest_must_match_the_body(client, alice):
    body = oci_image(client, NAME)
    other = sha256(body + b" ")

    response = put_manifest(client, NAME, other, body, OCI_MANIFEST)

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert_nothing_stored()


# --- invalid documents -------------------------------------------------------------------------------------------

def _bad_descriptor(change):
    config = descriptor(OCI_CONFIG, b"{}")
    config.update(change)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": []}).encode()


INVALID = {
    "garbage": (b"{not json", OCI_MANIFEST),
    "not utf-8": (b"\xc3\x28", OCI_MANIFEST),
    "array": (b"[]", OCI_MANIFEST),
    "string": (b'"manifest"', OCI_MANIFEST),
    "schema 1": (json.dumps({"schemaVersion": 1, "name": NAME, "tag": "v1", "fsLayers": []}).encode(),
                 "application/vnd.docker.distribution.manifest.v1+json"),
    "schema 1 as oci": (json.dumps({"schemaVersion": 1, "mediaType": OCI_MANIFEST, "config": descriptor(
        OCI_CONFIG, b"{}"), "layers": []}).encode(), OCI_MANIFEST),
    "media type mismatch": (json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode(),
                            OCI_MANIFEST),
    "no config": (json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode(),
                  OCI_MANIFEST),
    "bad digest": (_bad_descriptor({"digest": "sha256:nothex"}), OCI_MANIFEST),
    "negative size": (_bad_descriptor({"size": -1}), OCI_MANIFEST),
    "size as string": (_bad_descriptor({"size": "2"}), OCI_MANIFEST),
    "no media type": (_bad_descriptor({"mediaType": ""}), OCI_MANIFEST),
    "layers not a list": (json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                      "config": descriptor(OCI_CONFIG, b"{}"), "layers": {}}).encode(),
                          OCI_MANIFEST),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(INVALID))
def test_an_invalid_manifest_is_refused_and_nothing_is_stored(client, alice, case):
    body, media_type = INVALID[case]

    response = put_manifest(client, NAME, "v1", body, media_type)

    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"
    assert_nothing_stored()


@pytest.mark.django_db
def test_a_manifest_over_four_mebibytes_is_too_large(client, alice):
    body = oci_image(client, NAME, annotations={"padding": "x" * (4 * 1024 * 1024)})

    response = put_manifest(client, NAME, "v1", body, OCI_MANIFEST)

    assert response.status_code == 413
    assert_nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize("tag", [".bad", "-x", "a" * 129, "b@d"])
def test_an_invalid_tag_is_refused_and_nothing_is_stored(client, alice, tag):
    body = oci_image(client, NAME)

    response = put_manifest(client, NAME, tag, body, OCI_MANIFEST)

    assert response.status_code == 400
    assert error_code(response) in {"MANIFEST_INVALID", "TAG_INVALID"}
    assert_nothing_stored()


@pytest.mark.django_db
def test_the_longest_tag_is_128_characters(client, alice):
    tag = "_" + "a" * 127
    push_manifest(client, NAME, tag, oci_image(client, NAME), OCI_MANIFEST)
    assert get(client, tag).status_code == 200


# --- delete --------------------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_deleting_a_tag_keeps_the_manifest(client, alice):
    body = oci_image(client, NAME)
    push_manifest(client, NAME, "v1", body, OCI_MANIFEST)
    push_manifest(client, NAME, "stable", body, OCI_MANIFEST)

    response = delete(client, "v1")

    assert response.status_code == 202
    assert error_code(get(client, "v1")) == "MANIFEST_UNKNOWN"
    assert get(client, "stable").content == body
    assert get(client, sha256(body)).content == body


@pytest.mark.django_db
def test_deleting_by_digest_removes_the_manifest_and_its_tags(client, alice):
    body = oci_image(client, NAME)
    push_manifest(client, NAME, "v1", body, OCI_MANIFEST)
    push_manifest(client, NAME, "stable", body, OCI_MANIFEST)

    response = delete(client, sha256(body))

    assert response.status_code == 202
    for reference in ("v1", "stable", sha256(body)):
        missing = get(client, reference)
        assert missing.status_code == 404
        assert error_code(missing) == "MANIFEST_UNKNOWN"
    assert Tag.objects.count() == 0


@pytest.mark.django_db
def test_deleting_an_image_leaves_the_same_digest_in_another_repository(client, alice):
    make_repository("alice/other")
    body = oci_image(client, NAME)
    oci_image(client, "alice/other")
    push_manifest(client, NAME, "v1", body, OCI_MANIFEST)
    push_manifest(client, "alice/other", "v1", body, OCI_MANIFEST)

    delete(client, sha256(body))

    assert get(client, "v1", name="alice/other").content == body


@pytest.mark.django_db
@pytest.mark.parametrize("reference", ["nope", sha256(b"nope")])
def test_deleting_an_unknown_manifest_is_manifest_unknown(client, alice, reference):
    make_repository(NAME)
    response = delete(client, reference)
    assert response.status_code == 404
    assert error_code(response) == "MANIFEST_UNKNOWN"


# --- unknown manifests, repositories and names -------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("reference", ["latest", sha256(b"nothing")])
@pytest.mark.parametrize("method", ["get", "head"])
def test_an_unknown_manifest_is_404(client, alice, reference, method):
    make_repository(NAME)
    response = get(client, reference, method=method)
    assert response.status_code == 404
    if method == "get":
        assert error_code(response) == "MANIFEST_UNKNOWN"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "head", "delete"])
def test_a_missing_repository_is_name_unknown(client, alice, method):
    response = getattr(client, method)(f"/v2/{NAME}/manifests/latest", HTTP_AUTHORIZATION=auth(NAME))
    assert response.status_code == 404
    if method != "head":
        assert error_code(response) == "NAME_UNKNOWN"


INVALID_NAMES = ["Alice/App", "app", "a//b", "alice/app/", "alice/-app", "alice/app.", "alice/" + "a" * 250]


@pytest.mark.django_db
@pytest.mark.parametrize("name", INVALID_NAMES)
@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_an_invalid_repository_name_is_name_invalid(client, alice, name, method):
    response = client.generic(method.upper(), f"/v2/{name}/manifests/latest", b"{}", OCI_MANIFEST,
                              HTTP_AUTHORIZATION=bearer("alice", (name, "pull,push,delete")))
    assert response.status_code == 400
    assert error_code(response) == "NAME_INVALID"
    assert_nothing_stored()


# --- tag history ---------------------------------------------------------------------------------------------------

def events():
    return list(TagEvent.objects.order_by("id").values_list("tag", "kind", "digest", "previous_digest"))


@pytest.mark.django_db
def test_every_move_of_a_tag_is_recorded(client, alice):
    first, second = oci_image(client, NAME, "one"), oci_image(client, NAME, "two")
    one, two = sha256(first), sha256(second)

    push_manifest(client, NAME, "v1", first, OCI_MANIFEST)
    push_manifest(client, NAME, "v1", second, OCI_MANIFEST)
    push_manifest(client, NAME, "v1", second, OCI_MANIFEST)   # no move, no event
    delete(client, "v1")

    assert events() == [("v1", "pushed", one, ""), ("v1", "moved", two, one), ("v1", "deleted", "", two)]


@pytest.mark.django_db
def test_deleting_a_manifest_records_the_deletion_of_each_of_its_tags(client, alice):
    body = oci_image(client, NAME)
    push_manifest(client, NAME, "v1", body, OCI_MANIFEST)
    push_manifest(client, NAME, "stable", body, OCI_MANIFEST)

    delete(client, sha256(body))

    deleted = sorted(e for e in events() if e[1] == "deleted")
    assert deleted == [("stable", "deleted", "", sha256(body)), ("v1", "deleted", "", sha256(body))]


@pytest.mark.django_db
def test_a_push_by_digest_records_no_tag_event(client, alice):
    body = oci_image(client, NAME)
    push_manifest(client, NAME, sha256(body), body, OCI_MANIFEST)
    assert events() == []
