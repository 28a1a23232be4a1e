"""The security policy (portal.repositories.scan_policy): pulls of images with findings at or above a severity,
or not scanned yet if asked, are DENIED to everyone but the repository's admins; the repository's own policy
overrides its organization's; pushes are never affected; a pull where no policy applies reads nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portal.access import Principal
from portal.audit.models import LogEntry
from portal.errors import Invalid
from portal.repositories import scan_policy
from portal.repositories.models import Repository, ScanPolicy
from registry_api import queries
from scanning.models import ScanStatus, ScanSummary
from tests.factories import grant, make_organization, make_repository, make_user
from tests.registry_api.helpers import OCI_MANIFEST, auth
from tests.registry_api.tagged import image, push_image, push_index

pytestmark = pytest.mark.django_db
HIGH_MESSAGE = ("denied by the security policy of acme: the image has findings of severity High or above "
                "(2 critical, 1 high); an admin can pull it or change the policy")


@pytest.fixture
def app(alice, bob):  # type: ignore[no-untyped-def]
    """acme/app: alice owns acme (an organization admin), bob may pull."""
    make_organization("acme", owner=alice)
    repository = make_repository("acme/app")
    grant(repository, "read", user=bob)
    return repository


@pytest.fixture
def owner(alice):  # type: ignore[no-untyped-def]
    return Principal.for_user(alice)


def scanned(repository: Repository, digest: str, status: str = ScanStatus.DONE, **counts: int) -> None:
    manifest_id = queries.manifest(repository, digest, by_digest=True).id  # type: ignore[union-attr]
    ScanSummary.objects.update_or_create(manifest_id=manifest_id, defaults={"status": status, **counts})


def pull(client: Any, repository: Repository, reference: str, user: str = "bob", method: str = "get") -> Any:
    return getattr(client, method)(f"/v2/{repository.full_name}/manifests/{reference}",
                                   HTTP_AUTHORIZATION=auth(repository.full_name, "pull", user=user),
                                   HTTP_ACCEPT=OCI_MANIFEST)


def denial(response: Any) -> str:
    assert response.status_code == 403, response.content
    error = json.loads(response.content)["errors"][0]
    assert error["code"] == "DENIED"
    return str(error["message"])


@pytest.fixture
def vulnerable(client, app):  # type: ignore[no-untyped-def]
    """acme/app:v1, scanned with 2 critical, 1 high and 3 medium findings; its digest."""
    digest = push_image(client, app, "v1", "vulnerable")
    scanned(app, digest, critical=2, high=1, medium=3)
    return digest


# --- The rules -------------------------------------------------------------------------------------------------

def test_pulls_are_not_blocked_by_default(client, app, vulnerable):
    assert pull(client, app, "v1").status_code == 200
    assert pull(client, app, vulnerable).status_code == 200
    assert ScanPolicy.objects.count() == 0


def test_an_organization_policy_denies_pulls_by_tag_and_by_digest_with_a_message_naming_it(
        client, app, vulnerable, owner):
    scan_policy.set_policy(owner, app.namespace, "high", False)

    assert denial(pull(client, app, "v1")) == HIGH_MESSAGE
    assert denial(pull(client, app, vulnerable)) == HIGH_MESSAGE


def test_a_head_is_denied_too_with_headers_only(client, app, vulnerable, owner):
    scan_policy.set_policy(owner, app.namespace, "high", False)

    response = pull(client, app, "v1", method="head")

    assert response.status_code == 403
    assert response.content == b""
    assert int(response["Content-Length"]) > 0


def test_findings_below_the_severity_do_not_block(client, app, owner):
    digest = push_image(client, app, "v2", "medium-only")
    scanned(app, digest, medium=4, low=9, unknown=7)
    scan_policy.set_policy(owner, app.namespace, "high", False)

    assert pull(client, app, "v2").status_code == 200


def test_unknown_findings_never_block_even_at_low(client, app, owner):
    digest = push_image(client, app, "v2", "unknown-only")
    scanned(app, digest, unknown=5)
    scan_policy.set_policy(owner, app.namespace, "low", False)
    assert pull(client, app, "v2").status_code == 200

    scanned(app, digest, unknown=5, low=1)
    assert "(1 low)" in denial(pull(client, app, "v2"))


def test_a_repository_policy_overrides_its_organizations_both_ways(client, app, vulnerable, owner):
    scan_policy.set_policy(owner, app.namespace, "high", False)
    scan_policy.set_policy(owner, app, "off", False)
    assert pull(client, app, "v1").status_code == 200

    scan_policy.set_policy(owner, app.namespace, "off", False)
    scan_policy.set_policy(owner, app, "critical", False)
    assert denial(pull(client, app, "v1")) == (
        "denied by the security policy of acme/app: the image has findings of severity Critical or above "
        "(2 critical); an admin can pull it or change the policy")

    scan_policy.clear_policy(owner, app)   # back to the organization's: off
    assert pull(client, app, "v1").status_code == 200


def test_a_user_namespace_policy_applies_to_its_repositories(client, alice, bob):
    repository = make_repository("alice/tool")
    grant(repository, "read", user=bob)
    digest = push_image(client, repository, "v1", "tool")
    scanned(repository, digest, high=1)

    scan_policy.set_policy(Principal.for_user(alice), repository.namespace, "medium", False)

    assert "security policy of alice: " in denial(pull(client, repository, "v1"))


def test_images_not_scanned_are_allowed_unless_the_policy_says_otherwise(client, app, owner):
    digest = push_image(client, app, "new", "unscanned")
    scan_policy.set_policy(owner, app.namespace, "high", False)
    assert pull(client, app, "new").status_code == 200

    scan_policy.set_policy(owner, app.namespace, "high", True)
    assert denial(pull(client, app, "new")) == (
        "denied by the security policy of acme: the image has not been scanned; an admin can pull it or change "
        "the policy")
    for status, words in [("queued", "is queued for scanning"), ("scanning", "is being scanned"),
                          ("failed", "could not be scanned")]:
        scanned(app, digest, status)
        assert f"the image {words};" in denial(pull(client, app, "new"))


def test_the_unscanned_flag_alone_blocks_nothing_scanned_and_never_an_unsupported_artifact(client, app, owner):
    clean, artifact = push_image(client, app, "clean", "clean"), push_image(client, app, "sbom", "sbom")
    scanned(app, clean, critical=3)
    scanned(app, artifact, ScanStatus.UNSUPPORTED)

    scan_policy.set_policy(owner, app.namespace, "off", True)

    assert pull(client, app, "clean").status_code == 200
    assert pull(client, app, "sbom").status_code == 200


def test_admins_still_pull_and_anyone_else_does_not(client, app, vulnerable, owner, charlie):
    grant(app, "admin", user=charlie)
    scan_policy.set_policy(owner, app, "low", True)

    assert pull(client, app, "v1", user="alice").status_code == 200     # organization admin
    assert pull(client, app, vulnerable, user="charlie").status_code == 200   # repository admin
    writer = make_user("dave")
    grant(app, "write", user=writer)
    assert denial(pull(client, app, "v1", user="dave")) == (
        "denied by the security policy of acme/app: the image has findings of severity Low or above "
        "(2 critical, 1 high, 3 medium); an admin can pull it or change the policy")


def test_anonymous_pulls_of_a_public_repository_are_denied_too(client, app, vulnerable, owner):
    app.visibility = "public"
    app.save()
    scan_policy.set_policy(owner, app.namespace, "critical", False)

    response = client.get(f"/v2/{app.full_name}/manifests/v1", HTTP_AUTHORIZATION=auth(app.full_name, "pull", ""))

    assert "(2 critical)" in denial(response)


def test_an_index_is_let_through_and_each_platform_manifest_is_checked(client, app, owner):
    index, (amd64, arm64) = push_index(client, app, "multi")
    scanned(app, amd64, high=1)
    scanned(app, arm64)
    scan_policy.set_policy(owner, app.namespace, "high", True)

    assert pull(client, app, "multi").status_code == 200
    assert "(1 high)" in denial(pull(client, app, amd64))
    assert pull(client, app, arm64).status_code == 200

    scanned(app, index, critical=1)   # a scanner that summarises the index itself is heeded
    assert "(1 critical)" in denial(pull(client, app, "multi"))


def test_pushes_are_not_affected(client, app, vulnerable, owner):
    grant(app, "write", user=make_user("dave"))
    scan_policy.set_policy(owner, app.namespace, "low", True)
    blobs, body = image("vulnerable")

    response = client.put(f"/v2/{app.full_name}/manifests/v9", data=body, content_type=OCI_MANIFEST,
                          HTTP_AUTHORIZATION=auth(app.full_name, "pull,push", user="dave"))

    assert response.status_code == 201, response.content


# --- Settings and their audit ----------------------------------------------------------------------------------

def test_setting_and_clearing_are_audited_and_a_bad_severity_is_refused(app, owner):
    scan_policy.set_policy(owner, app.namespace, "medium", True)
    scan_policy.set_policy(owner, app, "off", False)
    scan_policy.clear_policy(owner, app)
    scan_policy.clear_policy(owner, app)   # nothing to clear: no entry

    entries = list(LogEntry.objects.filter(kind="scan_policy").order_by("id").values_list("target", "detail"))
    assert [target for target, _ in entries] == ["acme", "acme/app", "acme/app"]
    assert entries[0][1] == {"block_severity": "medium", "block_unscanned": True}
    assert entries[2][1] == {"cleared": True}
    with pytest.raises(Invalid):
        scan_policy.set_policy(owner, app, "severe", False)


# --- Cost: the manifest GET is the hottest path ----------------------------------------------------------------

def test_a_pull_where_no_policy_applies_reads_nothing_once_cached(app, vulnerable, django_assert_num_queries):
    row = queries.repository(app.full_name)
    manifest = queries.manifest(app, vulnerable, by_digest=True)
    assert row is not None and manifest is not None
    with django_assert_num_queries(1):
        assert scan_policy.pull_denied(Principal(), row, manifest) is None
    with django_assert_num_queries(0):
        for _ in range(100):
            assert scan_policy.pull_denied(Principal(), row, manifest) is None


def test_a_change_applies_at_once_here_and_within_the_cache_window_elsewhere(
        app, vulnerable, owner, bob, monkeypatch):
    row = queries.repository(app.full_name)
    manifest = queries.manifest(app, vulnerable, by_digest=True)
    assert row is not None and manifest is not None
    reader = Principal.for_user(bob)
    assert scan_policy.pull_denied(reader, row, manifest) is None

    scan_policy.set_policy(owner, app, "high", False)   # this process: at once
    assert scan_policy.pull_denied(reader, row, manifest) is not None

    ScanPolicy.objects.filter(repository=app).update(block_severity="off")   # as another node would
    assert scan_policy.pull_denied(reader, row, manifest) is not None
    later = scan_policy.time.monotonic() + 5.1
    monkeypatch.setattr(scan_policy.time, "monotonic", lambda: later)
    assert scan_policy.pull_denied(reader, row, manifest) is None
