"""Every page: it renders, every form carries a CSRF token, the stylesheet is served; CSRF is enforced."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from portal.accounts.models import TeamRole, User
from tests.factories import make_api_token, make_organization, make_repository, make_robot, make_team
from tests.web.images import make_image

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]
FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S)

SIGNED_IN_PAGES = [
    "/", "/settings/", "/settings/password/", "/settings/robots/", "/organizations/new/", "/repository/new/",
    "/organization/acme/", "/organization/acme/teams/", "/organization/acme/teams/owners/",
    "/organization/acme/robots/", "/organization/acme/default-permissions/", "/organization/acme/logs/",
    "/repository/acme/app/", "/repository/acme/app/settings/", "/repository/acme/app/logs/",
    "/repository/acme/app/tags/", "/repository/acme/app/history/", "/repository/acme/app/builds/",
    "/repository/acme/app/manifest/MANIFEST/", "/search/?q=app",
]
# Pages anyone may open (a private repository's answer 404 to strangers instead of asking them to sign in).
OPEN_PAGES = {"/", "/search/?q=app"} | {url for url in SIGNED_IN_PAGES if url.startswith("/repository/acme/app/")
                                        and not url.endswith(("settings/", "logs/"))}
ANONYMOUS_PAGES = ["/", "/login/", "/signup/", "/password-reset/", "/password-reset/sent/", "/password-reset/done/",
                   "/search/?q=app"]


@pytest.fixture
def world(alice: User, bob: User) -> None:
    organization = make_organization("acme", alice)
    make_team(organization, "devs", TeamRole.MEMBER, bob)
    tags = make_repository("acme/app")
    make_image(tags, "v1")   # so that the tags page draws its per-tag forms
    make_robot("acme", "ci")
    make_api_token(alice, "repo:read")


def manifest_url(url: str) -> str:
    from registry_api.models import Tag

    if "MANIFEST" not in url:
        return url
    return url.replace("MANIFEST", Tag.objects.get(repository__full_name="acme/app", name="v1").manifest.digest)


def post_forms(html: str) -> list[str]:
    return [form for form in FORM.findall(html) if 'method="post"' in form]


@pytest.mark.parametrize("url", SIGNED_IN_PAGES)
def test_signed_in_pages_render_and_every_form_has_a_csrf_token(login_as: Login, world: None, alice: User,
                                                                url: str) -> None:
    response = login_as(alice).get(manifest_url(url))

    assert response.status_code == 200
    forms = post_forms(response.content.decode())
    assert forms, "every page has at least the sign-out form"
    assert all('name="csrfmiddlewaretoken"' in form for form in forms)


@pytest.mark.parametrize("url", ANONYMOUS_PAGES)
def test_anonymous_pages_render_and_every_form_has_a_csrf_token(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 200
    assert all('name="csrfmiddlewaretoken"' in form for form in post_forms(response.content.decode()))


@pytest.mark.parametrize("url", [url for url in SIGNED_IN_PAGES if url not in OPEN_PAGES])
def test_pages_send_anonymous_visitors_to_sign_in(client: Client, world: None, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 302 and response["Location"] == f"/login/?next={url}"


def test_read_only_pages_refuse_a_post(login_as: Login, world: None, alice: User) -> None:
    client = login_as(alice)

    assert client.post("/").status_code == 405
    assert client.post("/repository/acme/app/").status_code == 405
    assert client.post("/organization/acme/logs/").status_code == 405
    assert client.post("/repository/acme/app/builds/").status_code == 400   # the upload form, with no file
    assert client.post(manifest_url("/repository/acme/app/manifest/MANIFEST/")).status_code == 405


def test_a_post_without_the_csrf_token_is_refused(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")

    response = client.post("/organizations/new/", {"name": "acme"})

    assert response.status_code == 403


def test_the_stylesheet_and_script_are_served(client: Client) -> None:
    css = client.get("/static/wharf.css")
    js = client.get("/static/wharf.js")

    assert css.status_code == 200 and css["Content-Type"].startswith("text/css")
    assert js.status_code == 200 and b"data-copy" in b"".join(js.streaming_content)  # type: ignore[attr-defined]
    assert client.get("/static/../portal/settings.py").status_code in (400, 404)   # never the file


def test_signed_in_visitors_of_login_and_signup_go_home(login_as: Login, alice: User) -> None:
    client = login_as(alice)

    assert client.get("/login/")["Location"] == "/"
    assert client.get("/signup/")["Location"] == "/"
