"""The "Security policy" section: on a repository's settings (its admins) and on an organization's default
permissions page (its admins); saving, following the organization again, and refusals."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from portal.accounts.models import Organization, User
from portal.repositories.models import ScanPolicy
from tests.factories import grant, make_organization, make_repository
from tests.web.conftest import messages_of, text

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]
SETTINGS = "/repository/acme/app/settings/"
DEFAULTS = "/organization/acme/default-permissions/"


@pytest.fixture
def acme(alice: User, bob: User) -> Organization:
    organization = make_organization("acme", alice)
    grant(make_repository("acme/app"), "write", user=bob)
    return organization


def test_an_organization_admin_sets_the_policy_its_repositories_follow(login_as: Login, acme: Organization,
                                                                       alice: User) -> None:
    client = login_as(alice)
    assert "Security policy" in text(client.get(DEFAULTS))

    response = client.post(DEFAULTS, {"action": "scan_policy", "block_severity": "high", "block_unscanned": "on"},
                           follow=True)

    assert messages_of(response) == ["Saved the security policy of acme."]
    policy = ScanPolicy.objects.get(namespace__name="acme")
    assert (policy.block_severity, policy.block_unscanned) == ("high", True)
    page = text(client.get(SETTINGS))
    assert "This repository follows the policy of acme; saving here overrides it." in page
    assert '<option value="high" selected>' in page


def test_a_repository_admin_overrides_then_follows_the_organization_again(login_as: Login, acme: Organization,
                                                                         alice: User) -> None:
    client = login_as(alice)
    client.post(DEFAULTS, {"action": "scan_policy", "block_severity": "high"})

    client.post(SETTINGS, {"action": "scan_policy", "block_severity": "off"})
    assert ScanPolicy.objects.get(repository__full_name="acme/app").block_severity == "off"
    assert "Follow acme's policy" in text(client.get(SETTINGS))

    response = client.post(SETTINGS, {"action": "scan_policy_clear"}, follow=True)
    assert messages_of(response) == ["acme/app follows the security policy of acme again."]
    assert not ScanPolicy.objects.filter(repository__full_name="acme/app").exists()


def test_a_bad_severity_redraws_the_form_with_its_error(login_as: Login, acme: Organization, alice: User) -> None:
    response = login_as(alice).post(SETTINGS, {"action": "scan_policy", "block_severity": "severe"})

    assert response.status_code == 400
    assert "Select a valid choice" in text(response)
    assert not ScanPolicy.objects.exists()


def test_a_writer_may_neither_see_nor_change_the_policy(login_as: Login, acme: Organization, bob: User) -> None:
    client = login_as(bob)

    assert client.get(SETTINGS).status_code == 403
    assert client.post(SETTINGS, {"action": "scan_policy", "block_severity": "off"}).status_code == 403
    assert client.post(DEFAULTS, {"action": "scan_policy", "block_severity": "off"}).status_code in (403, 404)
    assert not ScanPolicy.objects.exists()
