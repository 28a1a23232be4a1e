"""GitHub triggers' life through builds.triggers against the GitHub stand-in: the hook and (for a private
repository) the read-only deploy key made on GitHub, refusals there, and both taken away with the trigger."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from builds import secrets
from builds.models import Trigger
from builds.triggers import create_trigger, delete_trigger
from portal.access import Principal
from portal.accounts.models import User
from portal.audit.models import LogEntry
from portal.errors import Invalid
from portal.repositories.models import Repository
from tests.builds.github_standin import GithubStandIn
from tests.factories import make_repository


@pytest.fixture
def app(db: None) -> Repository:
    return make_repository("alice/app")


def _create(alice: User, app: Repository, full_name: str = "acme/site", **data: object):  # type: ignore[no-untyped-def]
    return create_trigger(app, Principal.for_user(alice), {"kind": "github", "github_repository": full_name, **data})


@pytest.mark.django_db
def test_a_github_trigger_puts_a_json_push_hook_with_its_secret_on_the_repository(
        github_api: GithubStandIn, alice: User, app: Repository) -> None:
    github_api.add_repo("acme/site", default_branch="trunk")
    github_api.connect_directly(alice)

    created = _create(alice, app)

    [hook] = github_api.hooks("acme/site")
    assert hook["events"] == ["push"] and hook["active"] is True
    assert hook["config"] == {"url": created.webhook_url, "content_type": "json", "secret": created.secret,
                              "insecure_ssl": "0"}
    assert created.webhook_url.endswith(f"/webhooks/git/{created.trigger.pk}/")
    trigger = Trigger.objects.get()
    assert (trigger.github_repository, trigger.github_hook_id) == ("acme/site", hook["id"])
    assert trigger.clone_url == f"{github_api.url}/acme/site.git"           # public: cloned over https
    assert trigger.default_branch == "trunk"
    assert (trigger.deploy_key_public, trigger.github_deploy_key_id) == ("", None)
    assert github_api.keys("acme/site") == []
    assert secrets.decrypt(trigger.secret_encrypted) == created.secret
    entry = LogEntry.objects.get(kind="trigger_create")
    assert (entry.actor, entry.detail["trigger_kind"], entry.detail["source"]) == ("alice", "github", "acme/site")


@pytest.mark.django_db
def test_a_private_repository_gets_a_read_only_deploy_key_whose_private_half_is_kept_encrypted(
        github_api: GithubStandIn, alice: User, app: Repository) -> None:
    github_api.add_repo("acme/api", private=True)
    github_api.connect_directly(alice)

    _create(alice, app, "acme/api")

    [key] = github_api.keys("acme/api")
    trigger = Trigger.objects.get()
    assert key["read_only"] is True and key["title"] == "Wharf alice/app"
    assert (trigger.deploy_key_public, trigger.github_deploy_key_id) == (key["key"], key["id"])
    assert trigger.clone_url == "git@github.test:acme/api.git"              # private: cloned with the key
    assert "PRIVATE KEY" not in trigger.deploy_key_encrypted
    private = secrets.decrypt(trigger.deploy_key_encrypted)
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    public = serialization.load_ssh_private_key(private.encode(), password=None).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    assert key["key"].startswith(public + " ")          # the pair: GitHub holds the public half of what we keep


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "says"), [(401, "reconnect GitHub"), (403, "admin rights on acme/site"),
                                              (500, "GitHub had an error")])
def test_a_refused_hook_deletes_the_trigger_and_says_why(github_api: GithubStandIn, alice: User, app: Repository,
                                                        status: int, says: str) -> None:
    github_api.add_repo("acme/site")
    github_api.connect_directly(alice)
    github_api.fail(status, "/hooks", method="POST")

    with pytest.raises(Invalid, match=says) as refused:
        _create(alice, app)

    assert refused.value.field == "github_repository"
    assert refused.value.message.startswith("GitHub refused: ")
    assert not Trigger.objects.exists()


@pytest.mark.django_db
def test_a_repository_the_user_may_not_administer_is_refused_before_anything_is_made(
        github_api: GithubStandIn, alice: User, app: Repository) -> None:
    github_api.add_repo("acme/site", admin=False)
    github_api.connect_directly(alice)

    with pytest.raises(Invalid, match="admin rights on acme/site"):
        _create(alice, app)

    assert not Trigger.objects.exists()
    assert not [r for r in github_api.requests if r[0] == "POST"]


@pytest.mark.django_db
def test_without_a_builds_connection_the_trigger_asks_to_connect_first(github_api: GithubStandIn, alice: User,
                                                                       app: Repository) -> None:
    github_api.add_repo("acme/site")

    with pytest.raises(Invalid, match="Connect your GitHub account for builds"):
        _create(alice, app)

    assert not Trigger.objects.exists()


@pytest.mark.django_db
def test_a_refused_deploy_key_takes_the_new_hook_away_too(github_api: GithubStandIn, alice: User,
                                                          app: Repository) -> None:
    github_api.add_repo("acme/api", private=True)
    github_api.connect_directly(alice)
    github_api.fail(422, "/keys", method="POST")

    with pytest.raises(Invalid, match="GitHub refused"):
        _create(alice, app, "acme/api")

    assert not Trigger.objects.exists()
    assert github_api.hooks("acme/api") == []


@pytest.mark.django_db
def test_deleting_the_trigger_removes_its_hook_and_key_from_github(github_api: GithubStandIn, alice: User,
                                                                   app: Repository) -> None:
    github_api.add_repo("acme/api", private=True)
    github_api.connect_directly(alice)
    created = _create(alice, app, "acme/api")

    warnings = delete_trigger(created.trigger, Principal.for_user(alice))

    assert warnings == []
    assert github_api.hooks("acme/api") == github_api.keys("acme/api") == []
    assert not Trigger.objects.exists()


@pytest.mark.django_db
def test_a_hook_already_removed_on_github_is_no_trouble(github_api: GithubStandIn, alice: User,
                                                        app: Repository) -> None:
    github_api.add_repo("acme/site")
    github_api.connect_directly(alice)
    created = _create(alice, app)
    github_api.repos["acme/site"].hooks.clear()          # someone removed it by hand

    assert delete_trigger(created.trigger, Principal.for_user(alice)) == []
    assert not Trigger.objects.exists()


@pytest.mark.django_db
def test_when_github_refuses_the_removal_the_trigger_goes_and_a_warning_says_what_is_left(
        github_api: GithubStandIn, alice: User, app: Repository) -> None:
    github_api.add_repo("acme/api", private=True)
    github_api.connect_directly(alice)
    created = _create(alice, app, "acme/api")
    github_api.fail(401)

    warnings = delete_trigger(created.trigger, Principal.for_user(alice))

    assert len(warnings) == 2
    assert warnings[0].startswith("The webhook on GitHub could not be removed")
    assert "reconnect GitHub" in warnings[0] and warnings[1].startswith("The deploy key on GitHub")
    assert not Trigger.objects.exists()
    assert len(github_api.hooks("acme/api")) == len(github_api.keys("acme/api")) == 1
