"""The security policy through the API: /api/v1/repositories/{ns}/{name}/security-policy/ and
/api/v1/organizations/{name}/security-policy/ (who may use them is in tests/api/test_matrix.py)."""

from __future__ import annotations

from portal.audit.models import LogEntry
from portal.repositories.models import ScanPolicy
from tests.api.conftest import error_of

REPO = "/api/v1/repositories/acme/app/security-policy/"
ORG = "/api/v1/organizations/acme/security-policy/"
OFF = {"block_severity": "off", "block_unscanned": False, "own": False, "inherited_from": None}


def test_nothing_is_blocked_until_a_policy_is_set(world, as_):
    assert as_("owner").get(ORG).json() == OFF
    assert as_("owner").get(REPO).json() == OFF


def test_a_repository_follows_its_organization_until_it_has_its_own(world, as_):
    owner = as_("owner")
    response = owner.put(ORG, {"block_severity": "high", "block_unscanned": True}, format="json")
    assert response.status_code == 200
    assert response.json() == {"block_severity": "high", "block_unscanned": True, "own": True, "inherited_from": None}
    assert owner.get(REPO).json() == {"block_severity": "high", "block_unscanned": True, "own": False,
                                      "inherited_from": "acme"}

    response = owner.put(REPO, {"block_severity": "off"}, format="json")
    assert response.json() == {"block_severity": "off", "block_unscanned": False, "own": True, "inherited_from": None}

    assert owner.delete(REPO).status_code == 204
    assert owner.get(REPO).json()["inherited_from"] == "acme"
    assert owner.delete(ORG).status_code == 204
    assert owner.get(REPO).json() == OFF
    assert LogEntry.objects.filter(kind="scan_policy").count() == 4


def test_an_unknown_severity_is_refused_and_changes_nothing(world, as_):
    response = as_("repo_admin").put(REPO, {"block_severity": "severe"}, format="json")

    assert response.status_code == 400
    assert error_of(response)["message"] == "block_severity: The severity is one of off, low, medium, high, critical."
    assert not ScanPolicy.objects.exists()


def test_a_reader_is_told_it_needs_the_admin_role(world, as_):
    response = as_("reader").put(REPO, {"block_severity": "low"}, format="json")

    assert response.status_code == 403
    assert "security policy" in error_of(response)["message"]
    assert not ScanPolicy.objects.exists()
