"""The data rules behind the account and repository pages: one account per e-mail address (any case), team
and robot names in the user-name grammar, adding a member twice, the description limit, the dashboard's
plain description line, and "1 platform"."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone
from django.utils.http import urlsafe_base64_decode

from portal.accounts.github import pick_username
from portal.accounts.models import Organization, Robot, Team, User
from portal.audit.models import LogEntry
from portal.repositories.models import Repository
from tests.factories import make_organization, make_repository, make_team, make_user
from tests.web.conftest import messages_of, text
from tests.web.images import make_image, make_index

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]
TAKEN = "That e-mail address is used by another account."
STRONG = "a long and uncommon passphrase 42"


# --- E-mail addresses --------------------------------------------------------------------------------------------

def test_signup_refuses_an_address_another_account_has_in_any_case(client: Client, alice: User) -> None:
    response = client.post("/signup/", {"username": "dora", "email": "ALICE@Example.COM", "password1": STRONG,
                                        "password2": STRONG})

    assert response.status_code == 400
    assert response.context["form"].errors["email"] == [TAKEN]
    assert not User.objects.filter(username="dora").exists()


def test_settings_refuses_an_address_another_account_has_in_any_case(login_as: Login, alice: User,
                                                                      bob: User) -> None:
    client = login_as(alice)

    taken = client.post("/settings/", {"action": "email", "email": "Bob@EXAMPLE.com"})
    own = client.post("/settings/", {"action": "email", "email": "Alice@example.com"}, follow=True)

    assert taken.status_code == 400 and taken.context["email_form"].errors["email"] == [TAKEN]
    assert own.status_code == 200 and "Your e-mail address has been saved." in messages_of(own)
    alice.refresh_from_db()
    assert alice.email == "Alice@example.com"   # one's own address in another case is no conflict


def test_the_database_holds_each_address_once_in_any_case_but_any_number_of_blank_ones(alice: User) -> None:
    User.objects.create(username="blank1", email="")
    User.objects.create(username="blank2", email="")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="alice2", email="ALICE@example.com")


def test_the_admin_refuses_a_taken_address_next_to_the_field(client: Client, alice: User, bob: User) -> None:
    root = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(root, backend="django.contrib.auth.backends.ModelBackend")
    url = f"/admin/accounts/user/{bob.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"email": "ALICE@example.com", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
                 "groups": [], "user_permissions": []})
    data.pop("date_joined")
    data.pop("last_login", None)

    response = client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"email": [TAKEN]}
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"


def test_a_github_sign_in_with_a_taken_address_makes_an_account_without_it(alice: User) -> None:
    taken = pick_username(None, {"username": "Alice", "email": "alice@EXAMPLE.com"}, None)
    free = pick_username(None, {"username": "dora", "email": "dora@example.com"}, None)

    assert taken == {"username": "alice2", "email": ""}
    assert free == {"username": "dora"}


def test_a_password_reset_mails_one_link_even_when_two_accounts_share_an_address(client: Client,
                                                                                 settings: object) -> None:
    """A database from before the rule: the unique index is dropped (inside the test's transaction) so that
    two accounts can hold one address; only the earliest-joined is mailed."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX user_email_ci_unique")
    make_user("dora")
    User.objects.filter(pk=make_user("dora2").pk).update(email="DORA@example.com")

    response = client.post("/password-reset/", {"email": "Dora@Example.com"})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"/password-reset/(\w+)/", mail.outbox[0].body)
    assert link is not None
    assert int(urlsafe_base64_decode(link.group(1))) == User.objects.get(username="dora").pk


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_a_shared_address_on_the_earliest_joined_account_and_says_so(
        capsys: pytest.CaptureFixture[str]) -> None:
    before = [("accounts", "0002_organizations_teams_robots_tokens")]
    after = [("accounts", "0003_unique_email_and_name_grammar")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old_user = executor.loader.project_state(before).apps.get_model("accounts", "User")
        joined = timezone.now() - timedelta(days=30)
        for days, username, email in [(2, "ann2", "ann@example.com"), (0, "ann", "Ann@Example.com"),
                                      (5, "ann3", "ANN@EXAMPLE.COM"), (1, "solo", "solo@example.com"),
                                      (3, "blank1", ""), (4, "blank2", "")]:
            old_user.objects.create(username=username, email=email, date_joined=joined + timedelta(days=days))
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        # Going back to `before` also unapplied every later migration that depends on it (other apps' too):
        # put the whole schema back for the tests that follow.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    emails = dict(User.objects.values_list("username", "email"))
    assert emails == {"ann": "Ann@Example.com", "ann2": "", "ann3": "", "solo": "solo@example.com",
                      "blank1": "", "blank2": ""}
    assert ("the address 'Ann@Example.com' was on 3 accounts; kept on 'ann' (joined first), cleared on 'ann2', "
            "'ann3'.") in capsys.readouterr().out


# --- Team and robot names ----------------------------------------------------------------------------------------

@pytest.fixture
def acme(alice: User, bob: User) -> Organization:
    organization = make_organization("acme", alice)
    make_team(organization, "devs", 1, bob)
    return organization


def test_team_and_robot_names_may_hold_dashes_like_user_names(login_as: Login, acme: Organization,
                                                              alice: User) -> None:
    client = login_as(alice)

    team = client.post("/organization/acme/teams/", {"name": "release-eng", "role": "member"})
    robot = client.post("/organization/acme/robots/", {"action": "robot_create", "name": "deploy-bot"})
    own_robot = client.post("/settings/robots/", {"action": "robot_create", "name": "ci.nightly"})
    bad = client.post("/organization/acme/teams/", {"name": "-release", "role": "member"})

    assert team.status_code == 302 and Team.objects.filter(organization=acme, name="release-eng").exists()
    assert robot.status_code == 200 and Robot.objects.filter(name="deploy-bot", namespace__name="acme").exists()
    assert own_robot.status_code == 200 and Robot.objects.filter(name="ci.nightly", namespace__name="alice").exists()
    assert bad.status_code == 400 and "Invalid team name" in bad.context["team_form"].errors["name"][0]


# --- Team members ------------------------------------------------------------------------------------------------

def test_adding_someone_who_is_already_a_member_says_so_and_logs_nothing(login_as: Login, acme: Organization,
                                                                          alice: User, bob: User) -> None:
    before = LogEntry.objects.filter(kind="team_member_add").count()

    response = login_as(alice).post("/organization/acme/teams/devs/", {"action": "member_add", "username": "bob"})

    assert response.status_code == 400
    assert response.context["member_form"].errors["username"] == ["'bob' is already a member of team 'devs'."]
    assert LogEntry.objects.filter(kind="team_member_add").count() == before
    assert Team.objects.get(name="devs").members.count() == 1


# --- Repository descriptions -------------------------------------------------------------------------------------

def test_a_description_over_64_kib_is_a_form_error(login_as: Login, alice: User) -> None:
    repository = make_repository("alice/app")
    client = login_as(alice)
    too_long = "é" * (32 * 1024 + 1)   # 64 KiB and 2 bytes of UTF-8

    settings_page = client.post("/repository/alice/app/settings/", {"action": "description",
                                                                      "description": too_long})
    new = client.post("/repository/new/", {"namespace": "alice", "name": "other", "description": too_long,
                                "visibility": "private", "start": "empty"})
    at_limit = client.post("/repository/alice/app/settings/", {"action": "description",
                                                                 "description": "x" * 64 * 1024})

    assert settings_page.status_code == 400
    assert settings_page.context["description_form"].errors["description"] == [
        "The description is 64.0 KiB; the limit is 64 KiB."]
    assert new.status_code == 400 and "the limit is 64 KiB" in new.context["form"].errors["description"][0]
    assert not Repository.objects.filter(full_name="alice/other").exists()
    assert at_limit.status_code == 302
    repository.refresh_from_db()
    assert len(repository.description) == 64 * 1024


# --- The dashboard's description line, platform counts ---------------------------------------------------------------

def test_the_dashboard_shows_a_descriptions_first_line_as_plain_text(login_as: Login, alice: User) -> None:
    repository = make_repository("alice/app")
    repository.description = ("<p align=\"center\"><img src=\"logo.png\"></p>\n\n```\ncode first\n```\n"
                              "# The **fast** `app` & [its docs](https://example.com)\n\nMore text.")
    repository.save()

    page = text(login_as(alice).get("/"))
    cell = re.search(r'<td class="muted">(.*?)</td>', page)

    assert cell is not None and cell.group(1) == "The fast app &amp; its docs"


def test_one_platform_is_not_plural(login_as: Login, alice: User) -> None:
    repository = make_repository("alice/app")
    child = make_image(repository, None)
    make_index(repository, "one", {"linux/amd64": child})

    page = text(login_as(alice).get("/repository/alice/app/"))

    assert "1 platform<" in page and "1 platforms" not in page
