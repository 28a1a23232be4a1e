"""The pages in a real browser: sign-up, sign-in, organizations, teams, robots, API tokens, repository settings."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from portal.accounts.credentials import digest
from portal.accounts.models import ApiToken, Robot, Team, TeamRole, User
from portal.repositories.models import Repository, RepositoryPermission, RepositoryRole
from tests.browser.conftest import HOME, Shot, sign_in
from tests.factories import make_organization, make_repository, make_robot, make_user

pytestmark = pytest.mark.django_db(transaction=True)
STRONG = "a long enough passphrase 42"


def submit(page: Any, action: str) -> None:
    """Press the submit button of the form that carries this hidden action."""
    page.click(f"form:has(input[name=action][value={action}]) button[type=submit]")


def expect_message(page: Any, text: str) -> None:
    """Wait (Playwright retries) until the page after a submit shows the message."""
    expect(page.locator(".messages")).to_contain_text(text)


def test_sign_up_then_sign_out(page: Any, shot: Shot) -> None:
    page.goto("/")
    shot("landing")
    page.click("main >> text=Sign up")
    page.fill("#id_username", "dora")
    page.fill("#id_email", "dora@example.com")
    page.fill("#id_password1", STRONG)
    page.fill("#id_password2", "not the same")
    page.click("main button[type=submit]")
    assert page.inner_text(".has-error .error") == "The two passwords differ."
    shot("error")

    page.fill("#id_password1", STRONG)
    page.fill("#id_password2", STRONG)
    page.click("main button[type=submit]")
    page.wait_for_url(HOME)
    expect_message(page, "Welcome to Wharf, dora")
    assert User.objects.get(username="dora").email == "dora@example.com"
    shot("home")

    page.click("[data-testid=user-menu]")
    page.click("text=Sign out")
    expect_message(page, "You are signed out.")
    assert page.is_visible("header >> text=Sign in")
    shot("signed-out")


def test_sign_in_refuses_a_wrong_password_and_a_robot(page: Any, shot: Shot) -> None:
    make_user("alice")
    _, robot_token = make_robot("alice", "ci")
    for username, password in (("alice", "not her password"), ("alice+ci", robot_token)):
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("form[action='/login/'] button[type=submit]")
        assert "Incorrect username or password." in page.inner_text(".form-errors")
    shot("refused")

    sign_in(page, "alice")
    assert page.inner_text("[data-testid=user-menu]") == "alice"
    shot("home")


def test_organization_team_member_and_robot(page: Any, shot: Shot) -> None:
    make_user("alice")
    make_user("bob")
    sign_in(page, "alice")

    page.click("nav >> text=New organization")
    page.fill("#id_name", "acme")
    page.click("main button[type=submit]")
    page.wait_for_url("**/organization/acme/")
    assert "alice" in page.inner_text("[data-testid=members]")
    shot("overview")

    page.click(".tabs >> text=Teams")
    page.fill("#id_name", "devs")
    page.select_option("#id_role", "creator")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/organization/acme/teams/devs/")
    page.fill("#id_username", "bob")
    submit(page, "member_add")
    expect_message(page, "Added bob to devs.")
    assert "bob" in page.inner_text("[data-testid=team-members]")
    assert Team.objects.get(name="devs").role == TeamRole.CREATOR
    shot("team")

    page.click(".tabs >> text=Robot accounts")
    page.fill("#id_name", "ci")
    submit(page, "robot_create")
    token = page.inner_text("[data-testid=secret]")
    assert token.startswith("wharf_robot_") and Robot.objects.get(name="ci").token_digest == digest(token)
    shot("robot-token")
    page.click("text=Done")
    assert "acme+ci" in page.inner_text("[data-testid=robots]")
    assert token not in page.content()
    shot("robots")


def test_api_token_is_shown_once(page: Any, shot: Shot) -> None:
    make_user("alice")
    sign_in(page, "alice")

    page.click("[data-testid=user-menu]")
    page.click(".menu-body >> text=Settings")
    page.fill("form:has(input[value=token_create]) #id_name", "laptop")
    page.check("input[value='repo:read']")
    page.check("input[value='repo:write']")
    submit(page, "token_create")
    secret = page.inner_text("[data-testid=secret]")
    assert secret.startswith("wharf_pat_")
    assert ApiToken.objects.get(name="laptop").scopes == ["repo:read", "repo:write"]
    shot("token")

    page.click("text=Done")
    listing = page.inner_text("[data-testid=tokens]")
    assert "laptop" in listing and "repo:write" in listing and secret not in page.content()
    shot("settings")


def test_repository_visibility_and_permission(page: Any, shot: Shot) -> None:
    make_user("alice")
    make_user("bob")
    make_repository("alice/app")
    sign_in(page, "alice")

    page.click("text=alice/app")
    expect(page.locator("main")).to_contain_text("podman pull")
    shot("overview")
    page.click("main >> text=Settings")
    page.wait_for_url("**/repository/alice/app/settings/")
    page.check("input[name=visibility][value=public]")
    submit(page, "visibility")
    expect_message(page, "alice/app is now public.")
    shot("public")

    page.select_option("form.inline-form:has(input[value=permission_set]) #id_kind", "users")
    page.fill("form.inline-form:has(input[value=permission_set]) #id_who", "bob")
    page.select_option("form.inline-form:has(input[value=permission_set]) #id_role", "write")
    page.click("form.inline-form:has(input[value=permission_set]) button[type=submit]")
    expect_message(page, "bob now has write on alice/app.")
    assert "bob" in page.inner_text("[data-testid=grants]")
    shot("permission")

    repository = Repository.objects.get(full_name="alice/app")
    assert repository.visibility == "public"
    assert RepositoryPermission.objects.get(repository=repository).role == RepositoryRole.WRITE


def test_an_outsider_sees_the_same_not_found_for_a_private_and_a_missing_repository(page: Any, shot: Shot) -> None:
    make_user("alice")
    make_user("charlie")
    make_organization("acme")
    make_repository("acme/secret")
    sign_in(page, "charlie")

    private = page.goto("/repository/acme/secret/settings/")
    private_text = page.inner_text("main")
    shot("private")
    missing = page.goto("/repository/acme/nothere/settings/")

    assert private is not None and missing is not None and private.status == missing.status == 404
    assert page.inner_text("main") == private_text
