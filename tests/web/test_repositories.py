"""The home page and the repository pages: create, overview, settings (visibility, permissions, delete)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from portal.accounts.models import Organization, TeamRole, User
from portal.audit.models import LogEntry
from portal.repositories.models import Repository, RepositoryPermission, RepositoryRole, Visibility
from tests.factories import grant, make_organization, make_repository, make_robot, make_team
from tests.web.conftest import messages_of, text

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]


@pytest.fixture
def acme(alice: User, bob: User) -> Organization:
    organization = make_organization("acme", alice)
    make_team(organization, "devs", TeamRole.MEMBER, bob)
    return organization


# --- Home ---------------------------------------------------------------------------------------------------------

def test_home_greets_anonymous_visitors_with_sign_in_and_sign_up(client: Client) -> None:
    page = text(client.get("/"))

    assert 'href="/login/"' in page and 'href="/signup/"' in page


def test_home_lists_the_users_repositories_and_organizations(login_as: Login, acme: Organization, alice: User,
                                                             bob: User) -> None:
    make_repository("alice/own")
    make_repository("acme/app")
    grant(make_repository("bob/shared"), "read", user=alice)
    make_repository("bob/secret")
    make_repository("charlie/public-elsewhere", Visibility.PUBLIC)

    page = login_as(alice).get("/")

    names = [r.full_name for r in page.context["repositories"]]
    assert names == ["acme/app", "alice/own", "bob/shared"]
    assert [o.name for o in page.context["organizations"]] == ["acme"]


# --- Creating -----------------------------------------------------------------------------------------------------

def test_new_repository_offers_own_namespace_and_organizations_where_one_may_create(
    login_as: Login, acme: Organization, bob: User, charlie: User,
) -> None:
    make_team(make_organization("builders"), "makers", TeamRole.CREATOR, bob)

    form = login_as(bob).get("/repository/new/?namespace=builders").context["form"]

    assert [value for value, _ in form.fields["namespace"].choices] == ["bob", "builders"]
    assert form.initial["namespace"] == "builders"


def test_creating_a_repository(login_as: Login, acme: Organization, alice: User) -> None:
    response = login_as(alice).post("/repository/new/", {"namespace": "acme", "name": "tools/app",
                                                         "description": "The app", "visibility": "public"},
                                    follow=True)

    assert response.redirect_chain[-1][0] == "/repository/acme/tools/app/"
    repository = Repository.objects.get(full_name="acme/tools/app")
    assert repository.visibility == "public" and repository.description == "The app"
    assert "Created acme/tools/app." in messages_of(response)
    assert LogEntry.objects.filter(kind="repo_create", repository_name="acme/tools/app").exists()


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"namespace": "alice", "name": "Bad Name"}, "name", "Repository names use lower-case letters"),
    ({"namespace": "alice", "name": "taken"}, "name", "The repository 'alice/taken' already exists."),
    ({"namespace": "acme", "name": "app"}, "namespace", "Select a valid choice."),   # bob is only a member
])
def test_repository_form_errors(login_as: Login, acme: Organization, alice: User, bob: User,
                                data: dict[str, str], field: str, message: str) -> None:
    make_repository("alice/taken")
    user = bob if data["namespace"] == "acme" else alice

    response = login_as(user).post("/repository/new/", {"visibility": "private", **data})

    assert response.status_code == 400 and message in response.context["form"].errors[field][0]
    assert Repository.objects.count() == 1


# --- Overview --------------------------------------------------------------------------------------------------

def test_the_overview_shows_the_pull_command_and_settings_only_to_admins(login_as: Login, alice: User,
                                                                          bob: User) -> None:
    repository = make_repository("alice/app")
    grant(repository, "write", user=bob)

    as_alice = text(login_as(alice).get("/repository/alice/app/"))
    as_bob = text(login_as(bob).get("/repository/alice/app/"))

    pull = "podman pull --tls-verify=false testserver/alice/app"
    assert pull in as_alice and "/repository/alice/app/settings/" in as_alice
    assert pull in as_bob and "/repository/alice/app/settings/" not in as_bob


def test_a_public_repository_is_open_to_anyone_and_a_private_one_looks_missing(client: Client, alice: User) -> None:
    make_repository("alice/open", Visibility.PUBLIC)
    make_repository("alice/closed")

    public = client.get("/repository/alice/open/")
    private = client.get("/repository/alice/closed/")
    missing = client.get("/repository/alice/nothere/")

    assert public.status_code == 200
    assert private.status_code == missing.status_code == 404
    assert text(private) == text(missing)


# --- Settings: who may open them --------------------------------------------------------------------------------

def test_settings_send_anonymous_visitors_to_sign_in(client: Client, alice: User) -> None:
    make_repository("alice/app", Visibility.PUBLIC)

    response = client.get("/repository/alice/app/settings/")

    assert response.status_code == 302 and response["Location"] == "/login/?next=/repository/alice/app/settings/"


def test_settings_of_a_repository_an_outsider_cannot_read_are_the_404_of_a_missing_one(
    login_as: Login, alice: User, charlie: User,
) -> None:
    make_repository("alice/app")
    client = login_as(charlie)

    private = client.get("/repository/alice/app/settings/")
    missing = client.get("/repository/alice/nothere/settings/")
    posted = client.post("/repository/alice/app/settings/", {"action": "visibility", "visibility": "public"})

    assert private.status_code == missing.status_code == posted.status_code == 404
    assert text(private) == text(missing)
    assert Repository.objects.get().visibility == "private"


@pytest.mark.parametrize("role", ["read", "write"])
def test_readers_and_writers_are_refused_the_settings(login_as: Login, alice: User, bob: User, role: str) -> None:
    grant(make_repository("alice/app"), role, user=bob)
    client = login_as(bob)

    assert client.get("/repository/alice/app/settings/").status_code == 403
    assert client.post("/repository/alice/app/settings/", {"action": "visibility",
                                                           "visibility": "public"}).status_code == 403
    assert Repository.objects.get().visibility == "private"


def test_public_repository_settings_are_still_only_for_admins(login_as: Login, alice: User, charlie: User) -> None:
    make_repository("alice/app", Visibility.PUBLIC)

    assert login_as(charlie).get("/repository/alice/app/settings/").status_code == 403


def test_an_organization_admin_and_a_granted_admin_open_the_settings(login_as: Login, acme: Organization,
                                                                     alice: User, bob: User) -> None:
    grant(make_repository("acme/app"), "admin", user=bob)

    assert login_as(alice).get("/repository/acme/app/settings/").status_code == 200
    assert login_as(bob).get("/repository/acme/app/settings/").status_code == 200


# --- Settings: what admins do ------------------------------------------------------------------------------------

def test_an_admin_changes_the_visibility_and_the_description(login_as: Login, alice: User) -> None:
    make_repository("alice/app")
    client = login_as(alice)
    url = "/repository/alice/app/settings/"

    public = client.post(url, {"action": "visibility", "visibility": "public"}, follow=True)
    described = client.post(url, {"action": "description", "description": "Our app"}, follow=True)
    bad = client.post(url, {"action": "visibility", "visibility": "secret"})

    assert public.redirect_chain[-1][0] == url and "alice/app is now public." in messages_of(public)
    assert "Saved the description." in messages_of(described)
    assert bad.status_code == 400 and bad.context["visibility_form"].errors["visibility"]
    repository = Repository.objects.get()
    assert (repository.visibility, repository.description) == ("public", "Our app")
    assert LogEntry.objects.filter(kind="repo_visibility", repository_name="alice/app").count() == 1


def test_an_admin_grants_changes_and_removes_permissions(login_as: Login, acme: Organization, alice: User,
                                                         charlie: User) -> None:
    make_repository("acme/app")
    make_robot("acme", "ci")
    client = login_as(alice)
    url = "/repository/acme/app/settings/"

    client.post(url, {"action": "permission_set", "kind": "users", "who": "charlie", "role": "read"})
    client.post(url, {"action": "permission_set", "kind": "teams", "who": "devs", "role": "write"})
    client.post(url, {"action": "permission_set", "kind": "robots", "who": "acme+ci", "role": "write"})
    changed = client.post(url, {"action": "permission_set", "kind": "users", "who": "charlie", "role": "admin"},
                          follow=True)
    page = text(changed)
    removed = client.post(url, {"action": "permission_delete", "kind": "robots", "who": "acme+ci", "confirm": "1"},
                          follow=True)

    assert "charlie now has admin on acme/app." in messages_of(changed)
    assert "<code>charlie</code>" in page and "<code>devs</code>" in page and "<code>acme+ci</code>" in page
    assert "Removed the permission of acme+ci." in messages_of(removed)
    grants = {(p.user_id and p.user.username, p.team_id and p.team.name, p.role)
              for p in RepositoryPermission.objects.all()}
    assert grants == {("charlie", None, RepositoryRole.ADMIN), (None, "devs", RepositoryRole.WRITE)}
    assert LogEntry.objects.filter(kind="permission_set").count() == 4
    assert LogEntry.objects.filter(kind="permission_delete").count() == 1


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"kind": "users", "who": "charlie", "role": "owner"}, "role", "Unknown role: use one of read, write, admin."),
    ({"kind": "users", "who": "nobody", "role": "read"}, "who", "There is no user named 'nobody'."),
    ({"kind": "teams", "who": "devs", "role": "read"}, "who", "'alice' has no team named 'devs'."),
    ({"kind": "robots", "who": "alice+ghost", "role": "read"}, "who", "'alice' has no robot named 'alice+ghost'."),
])
def test_permission_errors_show_next_to_the_field(login_as: Login, alice: User, charlie: User,
                                                  data: dict[str, str], field: str, message: str) -> None:
    make_repository("alice/app")

    response = login_as(alice).post("/repository/alice/app/settings/", {"action": "permission_set", **data})

    assert response.status_code == 400
    assert response.context["grant_form"].errors[field] == [message]
    assert not RepositoryPermission.objects.exists()


def test_removing_a_permission_nobody_has_says_so(login_as: Login, alice: User, charlie: User) -> None:
    make_repository("alice/app")

    response = login_as(alice).post("/repository/alice/app/settings/",
                                    {"action": "permission_delete", "kind": "users", "who": "charlie", "confirm": "1"},
                                    follow=True)

    assert "'charlie' has no permission on alice/app." in messages_of(response)


def test_deleting_a_repository_needs_its_full_name_typed(login_as: Login, alice: User) -> None:
    make_repository("alice/tools/app")
    client = login_as(alice)
    url = "/repository/alice/tools/app/settings/"

    wrong = client.post(url, {"action": "delete", "confirm": "app"})
    right = client.post(url, {"action": "delete", "confirm": "alice/tools/app"}, follow=True)

    assert wrong.status_code == 400
    assert wrong.context["delete_form"].errors["confirm"] == ["Type 'alice/tools/app' to confirm."]
    assert right.redirect_chain[-1][0] == "/" and "Deleted alice/tools/app." in messages_of(right)
    assert not Repository.objects.exists()
    assert LogEntry.objects.filter(kind="repo_delete", target="alice/tools/app").exists()


# --- Logs ---------------------------------------------------------------------------------------------------------

def test_the_repository_log_shows_its_entries_to_admins_only(login_as: Login, alice: User, bob: User) -> None:
    repository = make_repository("alice/app")
    grant(repository, "write", user=bob)
    other = make_repository("alice/other")
    LogEntry.objects.create(kind="push", actor="bob", repository=repository, repository_name="alice/app",
                            target="v1", client_ip="10.1.2.3")
    LogEntry.objects.create(kind="push", actor="bob", repository=other, repository_name="alice/other",
                            target="elsewhere")

    page = text(login_as(alice).get("/repository/alice/app/logs/"))

    assert "v1" in page and "10.1.2.3" in page and "elsewhere" not in page
    assert login_as(bob).get("/repository/alice/app/logs/").status_code == 403
