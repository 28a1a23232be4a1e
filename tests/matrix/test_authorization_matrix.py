"""The authorization matrix: every URL route × every persona has an expected answer.

A route that exists but is missing from ROUTES (or, for the REST API's resources, from the table in
tests/api/test_matrix.py, which runs the same ten personas) fails `test_every_route_is_in_the_matrix`, so
that a new endpoint cannot ship without someone deciding who may call it. Expected answers are status codes, one per
persona in the order of PERSONAS:

    anonymous outsider reader writer repo_admin org_member creator owner robot weak_token

The world (tests/matrix/world.py): organization acme (owner olivia in owners; mike in a member team; cora in a
creator team), private repository acme/app with tag v1, grants read to rita, write to walt, admin to adam
and read to the robot acme+ci; weak_token is adam's API token with only the repo:read scope.
Registry calls carry a registry token granted for the route's scope; API calls carry a session (people),
Basic credentials (the robot) or a Bearer API token; page calls carry the same, and pages must ignore
anything but a session.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.urls import get_resolver, resolve
from django.urls.resolvers import URLPattern, URLResolver

from tests.factories import sha256
from tests.matrix.world import INDEX, PERSONAS, World, build_world

UNKNOWN = "sha256:" + "0" * 64
UPLOAD = "00000000-0000-4000-8000-000000000000"
FULL = "repository:acme/app:pull,push,delete"
MANIFEST = sha256(INDEX)   # what acme/app:v1 points at


@dataclass(frozen=True)
class Route:
    surface: str        # registry | api | page
    method: str
    path: str
    expect: str         # ten status codes, one per persona
    scope: str = FULL   # registry only: the scope the client asks a token for
    body: str | None = None

    @property
    def codes(self) -> dict[str, int]:
        values = self.expect.split()
        assert len(values) == len(PERSONAS), f"{self.path}: {len(values)} answers for {len(PERSONAS)} personas"
        return dict(zip(PERSONAS, (int(v) for v in values), strict=True))


#                                                           anon out read writ radm memb crea ownr robo weak
ROUTES = [
    Route("registry", "GET", "/v2/",                                        "200  200 200  200  200  200  200  200  200  200"),
    Route("registry", "GET", "/v2/auth",                                    "200  200 200  200  200  200  200  200  200  200"),
    Route("registry", "GET", "/v2/_catalog",                                "200  200 200  200  200  200  200  200  200  200",
          scope="registry:catalog:*"),
    Route("registry", "GET", "/v2/acme/app/tags/list",                      "401  401 200  200  200  401  401  200  200  200"),
    Route("registry", "GET", "/v2/acme/app/manifests/v1",                   "401  401 200  200  200  401  401  200  200  200"),
    Route("registry", "HEAD", "/v2/acme/app/manifests/v1",                  "401  401 200  200  200  401  401  200  200  200"),
    Route("registry", "PUT", "/v2/acme/app/manifests/v2",                   "401  401 401  201  201  401  401  201  401  401",
          body="index"),
    Route("registry", "DELETE", "/v2/acme/app/manifests/v1",                "401  401 401  202  202  401  401  202  401  401"),
    Route("registry", "GET", f"/v2/acme/app/blobs/{UNKNOWN}",               "401  401 404  404  404  401  401  404  404  404"),
    Route("registry", "DELETE", f"/v2/acme/app/blobs/{UNKNOWN}",            "401  401 401  404  404  401  401  404  401  401"),
    Route("registry", "POST", "/v2/acme/app/blobs/uploads/",                "401  401 401  202  202  401  401  202  401  401"),
    # Upload ids are random; a reader asking after one learns only that it is unknown.
    Route("registry", "GET", f"/v2/acme/app/blobs/uploads/{UPLOAD}",        "401  401 404  404  404  401  401  404  404  404"),
    Route("registry", "GET", f"/v2/acme/app/referrers/{UNKNOWN}",           "401  401 200  200  200  401  401  200  200  200"),
    # Create on push: the owner and the creator may create in acme; nobody else, robots and tokens included.
    Route("registry", "POST", "/v2/acme/new/blobs/uploads/",                "401  401 401  401  401  401  202  202  401  401",
          scope="repository:acme/new:pull,push"),
    Route("registry", "GET", "/v2/acme/app/nothing-here",                   "404  404 404  404  404  404  404  404  404  404"),
    # The REST API's resources have their matrix in tests/api/test_matrix.py; these are its documents.
    Route("api", "GET", "/api/v1/schema/",                                  "200  200 200  200  200  200  200  200  200  200"),
    Route("api", "GET", "/api/v1/docs/",                                    "200  200 200  200  200  200  200  200  200  200"),
    Route("api", "GET", "/api/v1/redoc/",                                   "200  200 200  200  200  200  200  200  200  200"),
    Route("api", "GET", "/api/v1/redoc/redoc.standalone.js",                "200  200 200  200  200  200  200  200  200  200"),
    Route("api", "GET", "/api/v1/no-such-thing/",                           "404  404 404  404  404  404  404  404  404  404"),
    # Pages: robots and API tokens never sign in to the pages, so with their headers they are anonymous.
    Route("page", "GET", "/",                                               "200  200 200  200  200  200  200  200  200  200"),
    Route("page", "GET", "/favicon.ico",                                    "301  301 301  301  301  301  301  301  301  301"),
    Route("page", "GET", "/signup/",                                        "200  302 302  302  302  302  302  302  200  200"),
    Route("page", "GET", "/login/",                                         "200  302 302  302  302  302  302  302  200  200"),
    Route("page", "POST", "/logout/",                                       "302  302 302  302  302  302  302  302  302  302"),
    Route("page", "GET", "/password-reset/",                                "200  200 200  200  200  200  200  200  200  200"),
    Route("page", "GET", "/password-reset/sent/",                           "200  200 200  200  200  200  200  200  200  200"),
    Route("page", "GET", "/password-reset/MQ/set-password/",                "200  200 200  200  200  200  200  200  200  200"),
    Route("page", "GET", "/password-reset/done/",                           "200  200 200  200  200  200  200  200  200  200"),
    Route("page", "GET", "/settings/",                                      "302  200 200  200  200  200  200  200  302  302"),
    Route("page", "GET", "/settings/password/",                             "302  200 200  200  200  200  200  200  302  302"),
    Route("page", "POST", "/settings/github/disconnect/",                   "302  302 302  302  302  302  302  302  302  302"),
    Route("page", "GET", "/settings/robots/",                               "302  200 200  200  200  200  200  200  302  302"),
    Route("page", "GET", "/organizations/new/",                             "302  200 200  200  200  200  200  200  302  302"),
    Route("page", "GET", "/organization/acme/",                             "302  404 404  404  404  200  200  200  302  302"),
    Route("page", "GET", "/organization/acme/teams/",                       "302  404 404  404  404  200  200  200  302  302"),
    Route("page", "GET", "/organization/acme/teams/devs/",                  "302  404 404  404  404  200  200  200  302  302"),
    Route("page", "GET", "/organization/acme/robots/",                      "302  404 404  404  404  403  403  200  302  302"),
    Route("page", "GET", "/organization/acme/default-permissions/",         "302  404 404  404  404  403  403  200  302  302"),
    Route("page", "GET", "/organization/acme/logs/",                        "302  404 404  404  404  403  403  200  302  302"),
    Route("page", "GET", "/repository/new/",                                "302  200 200  200  200  200  200  200  302  302"),
    Route("page", "GET", "/repository/acme/app/",                           "404  404 200  200  200  404  404  200  404  404"),
    Route("page", "GET", "/repository/acme/app/settings/",                  "302  404 403  403  200  404  404  200  302  302"),
    Route("page", "GET", "/repository/acme/app/logs/",                      "302  404 403  403  200  404  404  200  302  302"),
    # Repository pages (issue 4): reading needs read; tag changes need write (a reader's POST is a 403 and
    # changes nothing); starring needs a signed-in person who may read. A POST whose form the services refuse
    # (restore to a digest the tag never had) is drawn again with its message: 400.
    Route("page", "GET", "/search/?q=app",                                  "200  200 200  200  200  200  200  200  200  200"),
    Route("page", "GET", "/repository/acme/app/tags/",                      "404  404 200  200  200  404  404  200  404  404"),
    Route("page", "POST", "/repository/acme/app/tags/",                     "404  404 403  302  302  404  404  302  404  404",
          body="form:action=delete&tag=v1&confirm=1"),
    Route("page", "GET", "/repository/acme/app/history/",                   "404  404 200  200  200  404  404  200  404  404"),
    Route("page", "POST", "/repository/acme/app/history/",                  "404  404 403  400  400  404  404  400  404  404",
          body=f"form:action=restore&tag=v1&digest={UNKNOWN}"),
    Route("page", "GET", f"/repository/acme/app/manifest/{MANIFEST}/",      "404  404 200  200  200  404  404  200  404  404"),
    Route("page", "GET", f"/repository/acme/app/manifest/{UNKNOWN}/",       "404  404 404  404  404  404  404  404  404  404"),
    Route("page", "GET", f"/repository/acme/app/manifest/{MANIFEST}/security/", "404  404 200  200  200  404  404  200  404  404"),
    Route("page", "POST", f"/repository/acme/app/manifest/{MANIFEST}/security/", "404  404 403  302  302  404  404  302  404  404",
          body="form:action=rescan"),
    Route("page", "GET", f"/repository/acme/app/manifest/{UNKNOWN}/security/", "404  404 404  404  404  404  404  404  404  404"),
    Route("page", "GET", f"/repository/acme/app/manifest/{MANIFEST}/security/packages/",
          "404  404 200  200  200  404  404  200  404  404"),
    Route("page", "GET", f"/repository/acme/app/manifest/{MANIFEST}/security/sbom/",
          "404  404 200  200  200  404  404  200  404  404"),
    Route("page", "GET", "/repository/acme/app/builds/",                    "404  404 200  200  200  404  404  200  404  404"),
    # Builds (issue 12): readers see builds and their logs; writers start, cancel and run again; admins manage
    # triggers. A finished build's cancel goes back to its page with a message (302) for writers.
    Route("page", "GET", "/repository/acme/app/builds/{build}/",            "404  404 200  200  200  404  404  200  404  404"),
    Route("page", "POST", "/repository/acme/app/builds/{build}/",           "404  404 403  302  302  404  404  302  404  404",
          body="form:action=cancel"),
    Route("page", "GET", "/repository/acme/app/builds/{build}/log/",        "404  404 200  200  200  404  404  200  404  404"),
    Route("page", "GET", "/repository/acme/app/builds/{build}/log.txt",     "404  404 200  200  200  404  404  200  404  404"),
    Route("page", "GET", "/repository/acme/app/triggers/",                  "302  404 403  403  200  404  404  200  302  302"),
    Route("page", "GET", "/repository/acme/app/triggers/new/",              "302  404 403  403  200  404  404  200  302  302"),
    Route("page", "GET", "/repository/acme/app/triggers/{trigger}/",        "302  404 403  403  200  404  404  200  302  302"),
    # Notifications (issue 15): admins only, like the settings they are reached from; the inbox is each
    # signed-in person's own; a confirmation link that names nothing is a 404 to everyone.
    Route("page", "GET", "/repository/acme/app/notifications/",             "302  404 403  403  200  404  404  200  302  302"),
    Route("page", "POST", "/repository/acme/app/notifications/",            "302  404 403  403  400  404  404  400  302  302",
          body="form:event=repo_push&method=webhook&target=ftp://x"),
    Route("page", "GET", "/repository/acme/app/notifications/{notification}/", "302  404 403  403  200  404  404  200  302  302"),
    Route("page", "POST", "/repository/acme/app/notifications/{notification}/", "302  404 403  403  302  404  404  302  302  302",
          body="form:action=enable&enabled=0"),
    Route("page", "GET", "/inbox/",                                         "302  200 200  200  200  200  200  200  302  302"),
    Route("page", "POST", "/inbox/",                                        "302  302 302  302  302  302  302  302  302  302"),
    Route("page", "GET", "/notifications/confirm/nothing/",                 "404  404 404  404  404  404  404  404  404  404"),
    Route("page", "POST", "/repository/acme/app/star/",                     "302  404 302  302  302  404  404  302  302  302",
          body="form:action=star"),
    Route("page", "GET", "/static/wharf.css",                               "200  200 200  200  200  200  200  200  200  200"),
    # GitHub sign-in (social-auth): starting it is a POST; a completion without GitHub's state goes back to
    # the login page; disconnecting needs a signed-in user.
    Route("page", "POST", "/login/github/",                                 "302  302 302  302  302  302  302  302  302  302"),
    Route("page", "GET", "/complete/github/",                               "302  302 302  302  302  302  302  302  302  302"),
    Route("page", "POST", "/disconnect/github/",                            "302  302 302  302  302  302  302  302  302  302"),
    Route("page", "POST", "/disconnect/github/1/",                          "302  302 302  302  302  302  302  302  302  302"),
    # IdP- and app-initiated sign-in are for SAML/OIDC backends; GitHub has neither.
    Route("page", "GET", "/idp-launch/github/",                             "404  404 404  404  404  404  404  404  404  404"),
    Route("page", "GET", "/app-launch/github/",                             "404  404 404  404  404  404  404  404  404  404"),
    Route("page", "GET", "/admin/",                                         "302  302 302  302  302  302  302  302  302  302"),
    # Garbage collection runs are for superusers (tests/web/test_gc_page.py); to everyone else the page does not exist.
    Route("page", "GET", "/superuser/gc/",                                  "404  404 404  404  404  404  404  404  404  404"),
    Route("page", "GET", "/superuser/advisories/",                          "404  404 404  404  404  404  404  404  404  404"),
    Route("page", "POST", "/superuser/advisories/",                         "404  404 404  404  404  404  404  404  404  404",
          body="form:url=https://example.com/all.zip"),
    # Operations: open to whoever reaches them (WHARF_METRICS_TOKEN, unset here, closes /metrics); no session.
    Route("api", "GET", "/healthz",                                         "200  200 200  200  200  200  200  200  200  200"),
    Route("api", "GET", "/readyz",                                          "200  200 200  200  200  200  200  200  200  200"),
    Route("api", "GET", "/metrics",                                         "200  200 200  200  200  200  200  200  200  200"),
    # A build webhook's credential is its signature, not a persona (tests/builds/test_webhooks.py); a trigger
    # that does not exist is a 404 to everyone, signed or not.
    Route("api", "POST", "/webhooks/git/999999/",                           "404  404 404  404  404  404  404  404  404  404"),
    # An e-mail notification's confirmation link: its token is the credential; an unknown one is a 404 to all.
    Route("page", "GET", "/notifications/confirm/not-a-token/",             "404  404 404  404  404  404  404  404  404  404"),
]


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    return build_world()


def _call(client, world: World, route: Route, persona_name: str):  # type: ignore[no-untyped-def]
    from tests.matrix.world import INDEX_TYPE

    persona = world.personas[persona_name]
    headers: dict[str, str] = {}
    if route.surface == "registry":
        headers = persona.registry_headers(route.scope)
    else:
        if persona.user is not None:
            client.force_login(persona.user)
        headers = dict(persona.api_headers)
    kwargs: dict[str, object] = {}
    if route.body == "index":
        kwargs = {"data": INDEX, "content_type": INDEX_TYPE}
    elif route.body is not None and route.body.startswith("form:"):   # a page's form, as a browser posts it
        kwargs = {"data": route.body.removeprefix("form:"), "content_type": "application/x-www-form-urlencoded"}
    elif route.body is not None:
        kwargs = {"data": route.body, "content_type": "application/json"}
    path = route.path.replace("{build}", str(world.ids["build"])).replace("{trigger}", str(world.ids["trigger"]))
    path = path.replace("{notification}", str(world.ids["notification"]))
    return client.generic(route.method, path, **kwargs, **headers)


def _cases() -> list[tuple[Route, str]]:
    return [(route, persona) for route in ROUTES for persona in PERSONAS]


@pytest.mark.parametrize(("route", "persona"), _cases(),
                         ids=[f"{r.method} {r.path} as {p}" for r, p in _cases()])
def test_the_answer_is_the_expected_one(client, world, route, persona):  # type: ignore[no-untyped-def]
    response = _call(client, world, route, persona)
    assert response.status_code == route.codes[persona], getattr(response, "content", b"")[:300]


def _all_routes(resolver: URLResolver, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for entry in resolver.url_patterns:
        route = URLResolver._join_route(prefix, str(entry.pattern))
        if isinstance(entry, URLPattern):
            found.add(route)
        elif isinstance(entry, URLResolver):
            found |= _all_routes(entry, route)
    return found


# Whole families decided once: Django's admin lets only staff past its login, whatever the URL.
COVERED_BY_PREFIX = ("admin/",)


def test_every_route_is_in_the_matrix() -> None:
    from tests.api.test_matrix import IDS
    from tests.api.test_matrix import MATRIX as API_MATRIX  # the REST API's rows live beside its tests

    paths = [route.path.replace("{build}", "1").replace("{trigger}", "1").replace("{notification}", "1")
             for route in ROUTES] + [url.format(**IDS) for _, url, _, _ in API_MATRIX]
    covered = {resolve(path.split("?")[0]).route for path in paths}
    missing = sorted(r for r in _all_routes(get_resolver()) - covered if not r.startswith(COVERED_BY_PREFIX))
    assert not missing, "routes without a row in the authorization matrix:\n" + "\n".join(missing)
