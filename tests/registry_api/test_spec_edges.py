"""Where the first release read the OCI distribution spec (and the reference registry) differently: referrers
of a repository that does not exist yet, the challenge for a cross-repository mount, and the Content-Type
of empty answers."""

from __future__ import annotations

import pytest

from portal.repositories.models import Visibility
from tests.factories import bearer, make_repository, sha256
from tests.registry_api.helpers import OCI_INDEX, OCI_MANIFEST, auth, oci_image, push_blob, push_manifest

DIGEST = sha256(b"some subject")


def referrers(client, name, header=None):  # type: ignore[no-untyped-def]
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    return client.get(f"/v2/{name}/referrers/{DIGEST}", **extra)


@pytest.mark.django_db
def test_referrers_of_a_repository_not_pushed_yet_is_an_empty_index_for_its_owner(client, alice):
    response = referrers(client, "alice/not-yet", auth("alice/not-yet", "pull"))

    assert response.status_code == 200
    assert response["Content-Type"] == OCI_INDEX
    assert response.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


@pytest.mark.django_db
def test_referrers_of_a_missing_repository_does_not_create_it(client, alice):
    from portal.repositories.models import Repository

    referrers(client, "alice/not-yet", auth("alice/not-yet", "pull"))

    assert not Repository.objects.filter(full_name="alice/not-yet").exists()


@pytest.mark.django_db
def test_an_outsider_gets_the_same_answer_for_referrers_of_a_private_and_a_missing_repository(client, alice, bob):
    make_repository("alice/secret", visibility=Visibility.PRIVATE)

    private = referrers(client, "alice/secret", auth("alice/secret", "pull", user="bob"))
    missing = referrers(client, "alice/missing", auth("alice/missing", "pull", user="bob"))

    assert private.status_code == missing.status_code == 401
    assert private.content.replace(b"secret", b"missing") == missing.content
    assert private["WWW-Authenticate"].replace("secret", "missing") == missing["WWW-Authenticate"]


@pytest.mark.django_db
def test_the_challenge_for_a_mount_names_pull_on_the_source(client, alice):
    response = client.post(f"/v2/alice/app/blobs/uploads/?mount={DIGEST}&from=alice/base")

    assert response.status_code == 401
    scope = response["WWW-Authenticate"].split('scope="', 1)[1].split('"', 1)[0]
    assert scope.split(" ") == ["repository:alice/app:pull,push", "repository:alice/base:pull"]


@pytest.mark.django_db
def test_a_client_that_follows_the_mount_challenge_gets_its_mount(client, alice):
    data = b"a layer in the base"
    push_blob(client, "alice/base", data)
    challenge = client.post(f"/v2/alice/app/blobs/uploads/?mount={sha256(data)}&from=alice/base")
    scopes = challenge["WWW-Authenticate"].split('scope="', 1)[1].split('"', 1)[0].split(" ")

    # As a client would: one token for every scope the challenge names.
    grants = [tuple(scope.split(":")[1:]) for scope in scopes]
    response = client.post(f"/v2/alice/app/blobs/uploads/?mount={sha256(data)}&from=alice/base",
                           HTTP_AUTHORIZATION=bearer("alice", *grants))

    assert response.status_code == 201


@pytest.mark.django_db
def test_a_plain_upload_challenge_names_only_its_repository(client, alice):
    response = client.post("/v2/alice/app/blobs/uploads/")

    assert 'scope="repository:alice/app:pull,push"' in response["WWW-Authenticate"]


@pytest.mark.django_db
def test_empty_answers_carry_no_content_type(client, alice):
    name = "alice/app"
    started = client.post(f"/v2/{name}/blobs/uploads/", HTTP_AUTHORIZATION=auth(name))
    location = started["Location"]
    status = client.get(location, HTTP_AUTHORIZATION=auth(name))
    cancelled = client.delete(location, HTTP_AUTHORIZATION=auth(name))
    created = client.post(f"/v2/{name}/blobs/uploads/?digest={sha256(b'x')}", data=b"x",
                          content_type="application/octet-stream", HTTP_AUTHORIZATION=auth(name))
    manifest = oci_image(client, name)
    pushed = client.put(f"/v2/{name}/manifests/v1", data=manifest, content_type=OCI_MANIFEST,
                        HTTP_AUTHORIZATION=auth(name))
    digest = push_manifest(client, name, "v2", oci_image(client, name, "b"), OCI_MANIFEST)
    deleted = client.delete(f"/v2/{name}/manifests/{digest}", HTTP_AUTHORIZATION=auth(name))

    answers = {"202": started, "204 status": status, "204 cancel": cancelled, "201 blob": created,
               "201 manifest": pushed, "202 delete": deleted}
    assert {what: r.status_code for what, r in answers.items()} == {
        "202": 202, "204 status": 204, "204 cancel": 204, "201 blob": 201, "201 manifest": 201, "202 delete": 202}
    assert {what: r.get("Content-Type") for what, r in answers.items()} == dict.fromkeys(answers)
