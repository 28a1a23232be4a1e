"""Content discovery: the tag list with n/last pagination, the referrers API, and the catalog."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from portal.accounts.models import User
from portal.repositories.models import Visibility
from registry_api.models import Manifest, Tag
from registry_api.tokens import issue
from tests.factories import bearer, make_repository, sha256
from tests.registry_api.helpers import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    artifact,
    auth,
    descriptor,
    encode,
    index_of,
    oci_image,
    push_manifest,
)

NAME = "alice/app"
SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"
LINK_RE = re.compile(r'<(?P<url>[^>]+)>; rel="next"')


def with_tags(client, *tags, name=NAME):
    """Push one image to `name` and point each tag at it (rows, not requests: the list is what is tested)."""
    body = oci_image(client, name)
    push_manifest(client, name, sha256(body), body, OCI_MANIFEST)
    manifest = Manifest.objects.get(repository__full_name=name, digest=sha256(body))
    Tag.objects.bulk_create(Tag(repository=manifest.repository, name=tag, manifest=manifest) for tag in tags)


def tag_list(client, query="", name=NAME):
    return client.get(f"/v2/{name}/tags/list{query}", HTTP_AUTHORIZATION=auth(name, "pull"))


def next_url(response):
    match = LINK_RE.fullmatch(response["Link"]) if response.has_header("Link") else None
    return match["url"] if match else None


# --- tags ----------------------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_tag_list_names_every_tag_in_byte_order(client, alice):
    with_tags(client, "b", "a", "B", "A", "10", "1.0", "1-0", "1_0")

    response = tag_list(client)

    assert response.status_code == 200
    assert response.json() == {"name": NAME, "tags": ["1-0", "1.0", "10", "1_0", "A", "B", "a", "b"]}
    assert not response.has_header("Link")


@pytest.mark.django_db
def test_a_repository_without_tags_lists_none(client, alice):
    make_repository(NAME)
    assert tag_list(client).json() == {"name": NAME, "tags": []}


@pytest.mark.django_db
def test_n_limits_the_page_and_links_to_the_next(client, alice):
    with_tags(client, "a", "b", "c")

    response = tag_list(client, "?n=2")

    assert response.json()["tags"] == ["a", "b"]
    assert response["Link"] == f'</v2/{NAME}/tags/list?n=2&last=b>; rel="next"'


@pytest.mark.django_db
def test_the_last_page_has_no_link(client, alice):
    with_tags(client, "a", "b", "c")

    response = tag_list(client, "?n=2&last=b")

    assert response.json()["tags"] == ["c"]
    assert not response.has_header("Link")


@pytest.mark.django_db
def test_a_page_that_ends_exactly_at_the_last_tag_has_no_link(client, alice):
    with_tags(client, "a", "b", "c")

    response = tag_list(client, "?n=3")

    assert response.json()["tags"] == ["a", "b", "c"]
    assert not response.has_header("Link")


@pytest.mark.django_db
def test_last_alone_lists_everything_after_it(client, alice):
    with_tags(client, "A", "B", "a", "b")
    assert tag_list(client, "?last=B").json()["tags"] == ["a", "b"]


@pytest.mark.django_db
def test_last_need_not_be_an_existing_tag(client, alice):
    with_tags(client, "1-0", "1.0", "10")
    assert tag_list(client, "?n=5&last=1.").json()["tags"] == ["1.0", "10"]


@pytest.mark.django_db
def test_n_zero_lists_nothing_and_links_nowhere(client, alice):
    with_tags(client, "a", "b")

    response = tag_list(client, "?n=0")

    assert response.status_code == 200
    assert response.json()["tags"] == []
    assert not response.has_header("Link")


@pytest.mark.django_db
@pytest.mark.parametrize("n", ["abc", "-1", "1.5", "2x"])
def test_an_invalid_n_is_pagination_number_invalid(client, alice, n):
    with_tags(client, "a")

    response = tag_list(client, f"?n={n}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"


@pytest.mark.django_db
@pytest.mark.parametrize("n", [100, 7])
def test_walking_250_tags_page_by_page_is_complete_and_in_order(client, alice, n):
    tags = [f"{prefix}{i}" for i in range(50) for prefix in ("v1.", "V", "rel-", "_", "x")]
    with_tags(client, *tags)

    seen, url, pages = [], f"/v2/{NAME}/tags/list?n={n}", 0
    while url:
        response = client.get(url, HTTP_AUTHORIZATION=auth(NAME, "pull"))
        page = response.json()["tags"]
        assert 0 < len(page) <= n
        seen += page
        url, pages = next_url(response), pages + 1

    assert seen == sorted(tags)
    assert pages == -(-250 // n)


@pytest.mark.django_db
def test_the_tag_list_of_a_missing_repository_is_name_unknown(client, alice):
    response = tag_list(client)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NAME_UNKNOWN"


# --- referrers -----------------------------------------------------------------------------------------------------

def referrers(client, digest, query="", name=NAME):
    return client.get(f"/v2/{name}/referrers/{digest}{query}", HTTP_AUTHORIZATION=auth(name, "pull"))


def push_subject_and_referrers(client):
    """An image and three referrers: an SBOM artifact, a signature without artifactType, a signed index."""
    image = oci_image(client, NAME)
    push_manifest(client, NAME, "v1", image, OCI_MANIFEST)
    subject = descriptor(OCI_MANIFEST, image)
    sbom = artifact(client, NAME, SBOM, subject=subject, annotations={"org.example.format": "spdx"})
    signature = oci_image(client, NAME, "signature", subject=subject)   # no artifactType: the config's type
    bundle = index_of(OCI_INDEX, [(OCI_MANIFEST, image)], subject=subject)   # an index without artifactType
    for body, media_type in ((sbom, OCI_MANIFEST), (signature, OCI_MANIFEST), (bundle, OCI_INDEX)):
        push_manifest(client, NAME, sha256(body), body, media_type)
    return image, sbom, signature, bundle


def by_digest(response):
    return {d["digest"]: d for d in response.json()["manifests"]}


@pytest.mark.django_db
def test_referrers_list_the_manifests_whose_subject_is_the_digest(client, alice):
    image, sbom, signature, bundle = push_subject_and_referrers(client)

    response = referrers(client, sha256(image))

    assert response.status_code == 200
    assert response["Content-Type"] == OCI_INDEX
    assert response.json()["schemaVersion"] == 2
    assert response.json()["mediaType"] == OCI_INDEX
    assert by_digest(response) == {
        sha256(sbom): {"mediaType": OCI_MANIFEST, "digest": sha256(sbom), "size": len(sbom), "artifactType": SBOM,
                       "annotations": {"org.example.format": "spdx"}},
        sha256(signature): {"mediaType": OCI_MANIFEST, "digest": sha256(signature), "size": len(signature),
                            "artifactType": OCI_CONFIG},
        sha256(bundle): {"mediaType": OCI_INDEX, "digest": sha256(bundle), "size": len(bundle)},
    }
    assert not response.has_header("OCI-Filters-Applied")


@pytest.mark.django_db
def test_a_digest_without_referrers_gets_an_empty_index(client, alice):
    image, *_ = push_subject_and_referrers(client)
    unreferenced = push_manifest(client, NAME, "v2", oci_image(client, NAME, "v2"), OCI_MANIFEST)

    for digest in (unreferenced, sha256(b"never pushed")):
        response = referrers(client, digest)
        assert response.status_code == 200
        assert response["Content-Type"] == OCI_INDEX
        assert response.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


@pytest.mark.django_db
def test_referrers_filter_by_artifact_type(client, alice):
    image, sbom, *_ = push_subject_and_referrers(client)

    response = referrers(client, sha256(image), f"?artifactType={SBOM}")

    assert list(by_digest(response)) == [sha256(sbom)]
    assert response["OCI-Filters-Applied"] == "artifactType"


@pytest.mark.django_db
def test_the_filter_matches_the_config_type_of_a_manifest_without_artifact_type(client, alice):
    image, _, signature, _ = push_subject_and_referrers(client)

    response = referrers(client, sha256(image), f"?artifactType={quote(OCI_CONFIG)}")

    assert list(by_digest(response)) == [sha256(signature)]


@pytest.mark.django_db
def test_a_filter_nothing_matches_gives_an_empty_filtered_index(client, alice):
    image, *_ = push_subject_and_referrers(client)

    response = referrers(client, sha256(image), "?artifactType=application/vnd.example.none")

    assert response.json()["manifests"] == []
    assert response["OCI-Filters-Applied"] == "artifactType"


@pytest.mark.django_db
def test_a_referrer_whose_subject_is_missing_is_listed(client, alice):
    absent = encode({"schemaVersion": 2, "absent": True})
    signature = artifact(client, NAME, SIGNATURE, subject=descriptor(OCI_MANIFEST, absent))
    push_manifest(client, NAME, sha256(signature), signature, OCI_MANIFEST)

    assert list(by_digest(referrers(client, sha256(absent)))) == [sha256(signature)]


@pytest.mark.django_db
def test_referrers_in_another_repository_are_not_listed(client, alice):
    image, *_ = push_subject_and_referrers(client)
    elsewhere = artifact(client, "alice/other", SBOM, subject=descriptor(OCI_MANIFEST, image), payload=b"other")
    push_manifest(client, "alice/other", sha256(elsewhere), elsewhere, OCI_MANIFEST)

    assert sha256(elsewhere) not in by_digest(referrers(client, sha256(image)))
    assert list(by_digest(referrers(client, sha256(image), name="alice/other"))) == [sha256(elsewhere)]


@pytest.mark.django_db
def test_a_deleted_referrer_is_no_longer_listed(client, alice):
    image, sbom, *_ = push_subject_and_referrers(client)

    client.delete(f"/v2/{NAME}/manifests/{sha256(sbom)}", HTTP_AUTHORIZATION=auth(NAME))

    assert sha256(sbom) not in by_digest(referrers(client, sha256(image)))


@pytest.mark.django_db
@pytest.mark.parametrize("digest", ["latest", "sha256:abc"])
def test_referrers_of_something_that_is_not_a_digest_is_400(client, alice, digest):
    make_repository(NAME)
    assert referrers(client, digest).status_code == 400


# --- catalog -------------------------------------------------------------------------------------------------------

@pytest.fixture
def repositories(db):
    for full_name, visibility in [("alice/private", Visibility.PRIVATE), ("alice/public", Visibility.PUBLIC),
                                  ("charlie/public", Visibility.PUBLIC), ("charlie/secret", Visibility.PRIVATE)]:
        make_repository(full_name, visibility=visibility)


CATALOG_ACCESS = [{"type": "registry", "name": "catalog", "actions": ["*"]}]


def catalog_token(username):
    user = User.objects.filter(username=username).first() if username else None
    token, _ = issue(username, CATALOG_ACCESS, f"user:{user.pk}" if user else "")
    return f"Bearer {token}"


def catalog(client, authorization, query=""):
    return client.get(f"/v2/_catalog{query}", HTTP_AUTHORIZATION=authorization)


@pytest.mark.django_db
def test_a_token_without_the_catalog_scope_is_challenged_for_it(client, alice, repositories):
    response = catalog(client, bearer("alice"))
    assert response.status_code == 401
    assert 'scope="registry:catalog:*"' in response["WWW-Authenticate"]


@pytest.mark.django_db
def test_alice_sees_her_private_and_every_public_repository(client, alice, repositories):
    response = catalog(client, catalog_token("alice"))
    assert response.status_code == 200
    assert response.json() == {"repositories": ["alice/private", "alice/public", "charlie/public"]}


@pytest.mark.django_db
def test_bob_sees_only_public_repositories(client, bob, repositories):
    assert catalog(client, catalog_token("bob")).json() == {"repositories": ["alice/public", "charlie/public"]}


@pytest.mark.django_db
def test_an_anonymous_token_sees_only_public_repositories(client, repositories):
    assert catalog(client, catalog_token("")).json() == {"repositories": ["alice/public", "charlie/public"]}


@pytest.mark.django_db
def test_the_catalog_paginates_with_n_and_last(client, alice, repositories):
    first = catalog(client, catalog_token("alice"), "?n=2")

    assert first.json()["repositories"] == ["alice/private", "alice/public"]
    assert first["Link"] == '</v2/_catalog?n=2&last=alice%2Fpublic>; rel="next"'
    second = client.get(next_url(first), HTTP_AUTHORIZATION=catalog_token("alice"))
    assert second.json()["repositories"] == ["charlie/public"]
    assert not second.has_header("Link")


@pytest.mark.django_db
def test_a_catalog_page_that_ends_exactly_at_the_last_repository_has_no_link(client, alice, repositories):
    response = catalog(client, catalog_token("alice"), "?n=3")
    assert len(response.json()["repositories"]) == 3
    assert not response.has_header("Link")


@pytest.mark.django_db
def test_the_catalog_never_pages_into_what_the_caller_cannot_read(client, bob, repositories):
    response = catalog(client, catalog_token("bob"), "?n=5&last=alice%2Fprivate")
    assert response.json()["repositories"] == ["alice/public", "charlie/public"]


@pytest.mark.django_db
def test_the_catalog_with_n_zero_lists_nothing_and_links_nowhere(client, alice, repositories):
    response = catalog(client, catalog_token("alice"), "?n=0")

    assert response.status_code == 200
    assert response.json() == {"repositories": []}
    assert not response.has_header("Link")


@pytest.mark.django_db
def test_the_catalog_refuses_an_invalid_n(client, alice, repositories):
    response = catalog(client, catalog_token("alice"), "?n=lots")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"


@pytest.mark.django_db
def test_the_catalog_lists_in_byte_order(client, alice):
    for full_name in ("alice/b", "alice/a-b", "alice/a.b", "alice/a_b", "alice/a"):
        make_repository(full_name)
    names = catalog(client, catalog_token("alice")).json()["repositories"]
    assert names == sorted(names) == ["alice/a", "alice/a-b", "alice/a.b", "alice/a_b", "alice/b"]
