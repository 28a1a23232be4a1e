"""builds.github against the GitHub stand-in: connecting for builds (and only then asking for the big scopes),
listing what the user may build from, hooks and keys, and refusals a person can act on."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from social_django.models import UserSocialAuth

from builds import github
from portal.accounts.models import User
from tests.builds.github_standin import SIGN_IN_SCOPES, GithubStandIn
from tests.conftest import free_port

BUILD_SCOPES = {"repo", "admin:repo_hook"}


# --- connecting ---------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_signing_in_asks_only_for_the_small_scopes(client: Client, github_api: GithubStandIn) -> None:
    response = github_api.sign_in(client)

    assert response.status_code == 302
    assert github_api.authorized_scopes == [set(SIGN_IN_SCOPES)]
    assert not github.connected(User.objects.get(username="octo-cat"))


@pytest.mark.django_db
def test_connecting_for_builds_asks_for_the_build_scopes_and_then_counts_as_connected(
        client: Client, github_api: GithubStandIn, alice: User) -> None:
    assert not github.connected(alice)

    response = github_api.connect(client, alice, next="/alice/app/builds/")

    assert (response.status_code, response["Location"]) == (302, "/alice/app/builds/")
    assert github_api.authorized_scopes == [set(SIGN_IN_SCOPES) | BUILD_SCOPES]
    assert github.connected(alice)
    social = UserSocialAuth.objects.get(user=alice)
    assert "repo" in social.extra_data["scope"].split(",")


@pytest.mark.django_db
def test_a_later_plain_sign_in_keeps_the_builds_connection(client: Client, github_api: GithubStandIn,
                                                           alice: User) -> None:
    github_api.connect(client, alice)
    client.logout()

    github_api.sign_in(client)                   # small scopes: a new token without repo

    assert client.session["_auth_user_id"] == str(alice.pk)
    social = UserSocialAuth.objects.get(user=alice)
    assert "repo" not in social.extra_data["scope"].split(",")        # the sign-in's token
    assert social.extra_data["builds_access_token"] != social.extra_data["access_token"]
    assert github.connected(alice)
    assert github.organizations(alice) == ["octo-cat"]


@pytest.mark.django_db
def test_the_builds_flag_does_not_outlive_its_connect(client: Client, github_api: GithubStandIn,
                                                      alice: User) -> None:
    github_api.connect(client, alice)

    github_api.sign_in(client)                   # the same session, a plain connect this time

    assert github_api.authorized_scopes[-1] == set(SIGN_IN_SCOPES)


@pytest.mark.django_db
def test_for_builds_is_ignored_when_nobody_is_signed_in(client: Client, github_api: GithubStandIn) -> None:
    response = client.post("/login/github/", {"for": "builds"})

    asked = parse_qs(urlsplit(response["Location"]).query)["scope"][0]
    assert set(asked.split(",")) == set(SIGN_IN_SCOPES)


@pytest.mark.django_db
def test_a_connection_with_only_the_sign_in_scopes_is_not_enough(github_api: GithubStandIn, alice: User) -> None:
    github_api.connect_directly(alice, scope="read:user,user:email")

    assert not github.connected(alice)
    with pytest.raises(github.GithubError, match="Connect your GitHub account for builds"):
        github.organizations(alice)


# --- listing ------------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_organizations_are_the_users_own_login_then_their_organizations_across_pages(
        github_api: GithubStandIn, alice: User) -> None:
    github_api.orgs = ["zeta", "Acme", "beta"]
    github_api.page_size = 2
    github_api.connect_directly(alice)

    assert github.organizations(alice) == ["octo-cat", "Acme", "beta", "zeta"]
    assert [p for m, p in github_api.requests if p.startswith("/user/orgs")][1].endswith("page=2")


@pytest.mark.django_db
def test_pagination_stops_at_the_page_cap(github_api: GithubStandIn, alice: User) -> None:
    github_api.orgs = [f"org{i}" for i in range(30)]
    github_api.page_size = 2
    github_api.connect_directly(alice)

    assert len(github.organizations(alice)) == 1 + 2 * github.MAX_PAGES


@pytest.mark.django_db
def test_repositories_are_those_the_user_may_administer_across_pages(github_api: GithubStandIn,
                                                                     alice: User) -> None:
    for i in range(5):
        github_api.add_repo(f"octo-cat/app{i}")
    github_api.add_repo("octo-cat/read-only", admin=False)
    github_api.add_repo("octo-cat/secret", private=True)
    github_api.add_repo("acme/site")
    github_api.page_size = 2
    github_api.connect_directly(alice)

    mine = github.repositories(alice, "octo-cat")
    theirs = github.repositories(alice, "acme")

    assert [r.full_name for r in mine] == [f"octo-cat/app{i}" for i in range(5)] + ["octo-cat/secret"]
    assert [r.private for r in mine][-1] is True
    assert [r.full_name for r in theirs] == ["acme/site"]
    assert theirs[0] == github.GithubRepository(
        full_name="acme/site", owner="acme", private=False, default_branch="main",
        clone_url=f"{github_api.url}/acme/site.git", ssh_url="git@github.test:acme/site.git")


@pytest.mark.django_db
def test_one_repository_needs_admin_rights(github_api: GithubStandIn, alice: User) -> None:
    github_api.add_repo("acme/site", admin=False)
    github_api.add_repo("acme/api", private=True, default_branch="trunk")
    github_api.connect_directly(alice)

    assert github.repository(alice, "acme/api").default_branch == "trunk"
    with pytest.raises(github.GithubError, match="admin rights on acme/site"):
        github.repository(alice, "acme/site")
    with pytest.raises(github.GithubError, match="admin rights on acme/gone"):
        github.repository(alice, "acme/gone")


# --- hooks and keys -----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_hook_is_a_json_push_hook_with_the_secret(github_api: GithubStandIn, alice: User) -> None:
    github_api.add_repo("acme/site")
    github_api.connect_directly(alice)

    hook_id = github.create_hook(alice, "acme/site", "https://wharf.test/webhooks/git/7/", "the-secret")

    assert github_api.hooks("acme/site") == [{
        "id": hook_id, "name": "web", "active": True, "events": ["push"],
        "config": {"url": "https://wharf.test/webhooks/git/7/", "content_type": "json", "secret": "the-secret",
                   "insecure_ssl": "0"}}]


@pytest.mark.django_db
def test_hooks_and_keys_are_deleted_and_a_missing_one_counts_as_deleted(github_api: GithubStandIn,
                                                                       alice: User) -> None:
    github_api.add_repo("acme/site", private=True)
    github_api.connect_directly(alice)
    hook_id = github.create_hook(alice, "acme/site", "https://wharf.test/webhooks/git/7/", "s")
    key_id = github.add_deploy_key(alice, "acme/site", "Wharf alice/app", "ssh-ed25519 AAAA wharf")
    assert github_api.keys("acme/site") == [{"id": key_id, "title": "Wharf alice/app",
                                             "key": "ssh-ed25519 AAAA wharf", "read_only": True}]

    github.delete_hook(alice, "acme/site", hook_id)
    github.delete_deploy_key(alice, "acme/site", key_id)
    github.delete_hook(alice, "acme/site", hook_id)          # again: already gone

    assert github_api.hooks("acme/site") == github_api.keys("acme/site") == []


# --- refusals -----------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("status", "says"), [
    (401, "reconnect GitHub"),
    (403, "admin rights on acme/site"),
    (404, "admin rights on acme/site"),
    (422, "GitHub refused the change to acme/site: Validation Failed"),
    (500, "GitHub had an error \\(500\\)"),
])
def test_a_refusal_says_what_to_do(github_api: GithubStandIn, alice: User, status: int, says: str) -> None:
    github_api.add_repo("acme/site")
    github_api.connect_directly(alice)
    github_api.fail(status, "/hooks")

    with pytest.raises(github.GithubError, match=says):
        github.create_hook(alice, "acme/site", "https://wharf.test/webhooks/git/7/", "s")


@pytest.mark.django_db
def test_an_unreachable_github_says_so(settings: Any, github_api: GithubStandIn, alice: User) -> None:
    github_api.connect_directly(alice)
    settings.WHARF_GITHUB_API_URL = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(github.GithubError, match="GitHub could not be reached"):
        github.organizations(alice)


@pytest.mark.django_db
def test_a_next_link_to_another_host_is_not_followed(github_api: GithubStandIn, alice: User,
                                                     settings: Any) -> None:
    github_api.orgs = ["a", "b", "c"]
    github_api.page_size = 1
    github_api.connect_directly(alice)
    settings.WHARF_GITHUB_API_URL = github_api.url.replace("127.0.0.1", "localhost")

    # the stand-in's links name 127.0.0.1: not the API address Wharf was given, so the token stays home
    assert github.organizations(alice) == ["octo-cat", "a"]


@pytest.mark.django_db
def test_the_token_never_reaches_the_logs(client: Client, github_api: GithubStandIn, alice: User,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    github_api.add_repo("acme/site", private=True)
    github_api.connect(client, alice)
    github.repositories(alice, "acme")
    hook_id = github.create_hook(alice, "acme/site", "https://wharf.test/webhooks/git/7/", "s")
    github.delete_hook(alice, "acme/site", hook_id)
    github_api.fail(401)
    with pytest.raises(github.GithubError) as refused:
        github.organizations(alice)

    assert github_api.tokens and caplog.records
    for token in github_api.tokens:
        assert token not in caplog.text
        assert token not in str(refused.value)
