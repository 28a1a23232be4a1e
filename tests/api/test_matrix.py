"""Every API route × every persona has an expected status; a route missing from the matrix fails the test.

Personas (see conftest.World): anonymous, outsider, reader, writer, repo_admin, member, creator, owner,
robot (reads acme/app), token (alice's, with only repo:read). acme/app is private.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, resolve

from portal.accounts.models import ApiToken
from portal.api import urls as api_urls
from portal.api.base import ApiView
from tests.api.conftest import PERSONAS, error_of, rolled_back
from tests.factories import sha256
from tests.registry_api.tagged import image, push_image

ADMIN = "404 404 403 403 {ok} 403 404 {ok} 403 403"        # repository admins (private repo: others see nothing)
READ = "404 404 200 200 200 200 404 200 200 200"
ORG_MEMBER = "401 403 403 403 403 200 200 200 403 200"
ORG_ADMIN = "401 403 403 403 403 403 403 {ok} 403 403"
PERSON = "401 {ok} {ok} {ok} {ok} {ok} {ok} {ok} 403 403"   # people with full rights (user:admin, org:admin)
WRITE = "404 404 403 {ok} {ok} 403 404 {ok} 403 403"        # repository writers (the token only reads)
STAR = "404 404 {ok} {ok} {ok} {ok} 404 {ok} 403 {ok}"      # people who read acme/app (robots have no stars)

REPO = "/api/v1/repositories/acme/app"
ORG = "/api/v1/organizations/acme"
ROBOTS = "/api/v1/namespaces/acme/robots"
# acme/app's v1 was pushed on OLD and moved to NEW (see `tagged`), so it has a history to restore.
OLD, NEW = (sha256(image(seed)[1]) for seed in ("old", "new"))
TAG_ROUTES = ("/tags/", "/manifests/", "/history/")
BUILD_ROUTES = ("/builds/", "/triggers/")
BUILD = "/api/v1/builds/{build_id}"
TRIGGER = f"{REPO}/triggers/{{trigger_id}}"
NOTIFICATION = f"{REPO}/notifications/{{notification_id}}"
HOOK = "https://hooks.example.com/wharf"
# Any ids: only the route is looked at.
IDS = {"token_id": 1, "build_id": 1, "trigger_id": 1, "notification_id": 1, "delivery_id": 1}

MATRIX: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("get", "/api/v1/repositories/", None, "200 " * 10),
    ("post", "/api/v1/repositories/", {"namespace": "acme", "name": "new"}, "401 403 403 403 403 403 201 201 403 403"),
    ("get", f"{REPO}/", None, READ),
    ("patch", f"{REPO}/", {"description": "x"}, ADMIN.format(ok=200)),
    ("delete", f"{REPO}/", None, ADMIN.format(ok=204)),
    ("get", f"{REPO}/permissions/", None, ADMIN.format(ok=200)),
    ("get", f"{REPO}/permissions/users/rita/", None, ADMIN.format(ok=200)),
    ("put", f"{REPO}/permissions/users/olivia/", {"role": "read"}, ADMIN.format(ok=200)),
    ("delete", f"{REPO}/permissions/users/rita/", None, ADMIN.format(ok=204)),
    ("get", f"{REPO}/logs/", None, ADMIN.format(ok=200)),
    ("get", f"{REPO}/security-policy/", None, ADMIN.format(ok=200)),
    ("put", f"{REPO}/security-policy/", {"block_severity": "high"}, ADMIN.format(ok=200)),
    ("delete", f"{REPO}/security-policy/", None, ADMIN.format(ok=204)),
    ("get", f"{REPO}/tags/", None, READ),
    ("get", "/api/v1/repositories/acme/site/tags/", None, "200 " * 10),
    ("get", f"{REPO}/tags/v1/", None, READ),
    ("put", f"{REPO}/tags/v2/", {"manifest_digest": NEW}, WRITE.format(ok=201)),
    ("put", f"{REPO}/tags/v1/", {"manifest_digest": OLD}, WRITE.format(ok=200)),
    ("delete", f"{REPO}/tags/v1/", None, WRITE.format(ok=204)),
    ("get", f"{REPO}/tags/v1/history/", None, READ),
    ("post", f"{REPO}/tags/v1/restore/", {"manifest_digest": OLD}, WRITE.format(ok=200)),
    ("get", f"{REPO}/history/", None, READ),
    ("get", f"{REPO}/manifests/{NEW}/", None, READ),
    ("get", f"{REPO}/manifests/{NEW}/security/", None, READ),
    ("get", f"{REPO}/manifests/{NEW}/security/packages/", None, READ),
    ("get", f"{REPO}/manifests/{NEW}/security/sbom/", None, "404 " * 10),   # not scanned: no SBOM for anyone
    ("post", f"{REPO}/manifests/{NEW}/security/rescan/", None, WRITE.format(ok=202)),
    ("put", f"{REPO}/star/", None, STAR.format(ok=200)),
    ("delete", f"{REPO}/star/", None, STAR.format(ok=204)),
    ("put", "/api/v1/repositories/acme/site/star/", None, "401 200 200 200 200 200 200 200 403 200"),
    ("get", f"{REPO}/builds/", None, READ),
    ("post", f"{REPO}/builds/", {"trigger": "{trigger_id}", "commit": "a" * 40}, WRITE.format(ok=201)),
    ("get", f"{BUILD}/", None, READ),
    ("get", f"{BUILD}/logs/", None, READ),
    ("post", f"{BUILD}/cancel/", None, WRITE.format(ok=200)),
    ("post", f"{BUILD}/rerun/", None, WRITE.format(ok=201)),
    ("get", f"{REPO}/triggers/", None, ADMIN.format(ok=200)),
    ("post", f"{REPO}/triggers/", {"kind": "git", "clone_url": "https://git.example.com/acme/app.git"},
     ADMIN.format(ok=201)),
    ("get", f"{TRIGGER}/", None, ADMIN.format(ok=200)),
    ("patch", f"{TRIGGER}/", {"enabled": False}, ADMIN.format(ok=200)),
    ("delete", f"{TRIGGER}/", None, ADMIN.format(ok=200)),
    ("post", f"{TRIGGER}/secret/", None, ADMIN.format(ok=200)),
    ("get", f"{TRIGGER}/deliveries/", None, ADMIN.format(ok=200)),
    # Notifications (issue 15): admins manage them; readers and writers see nothing of them.
    ("get", f"{REPO}/notifications/", None, ADMIN.format(ok=200)),
    ("post", f"{REPO}/notifications/", {"event": "repo_push", "method": "webhook", "target": HOOK},
     ADMIN.format(ok=201)),
    ("get", f"{NOTIFICATION}/", None, ADMIN.format(ok=200)),
    ("patch", f"{NOTIFICATION}/", {"enabled": False}, ADMIN.format(ok=200)),
    ("delete", f"{NOTIFICATION}/", None, ADMIN.format(ok=204)),
    ("post", f"{NOTIFICATION}/test/", None, ADMIN.format(ok=202)),
    ("get", f"{NOTIFICATION}/deliveries/", None, ADMIN.format(ok=200)),
    ("post", f"{REPO}/notifications/deliveries/{{delivery_id}}/redeliver/", None, ADMIN.format(ok=202)),

    ("post", "/api/v1/organizations/", {"name": "neworg"}, PERSON.format(ok=201)),
    ("get", f"{ORG}/", None, "200 " * 10),
    ("delete", f"{ORG}/", None, ORG_ADMIN.format(ok=204)),
    ("get", f"{ORG}/members/", None, ORG_MEMBER),
    ("get", f"{ORG}/teams/", None, ORG_MEMBER),
    ("post", f"{ORG}/teams/", {"name": "qa"}, ORG_ADMIN.format(ok=201)),
    ("get", f"{ORG}/teams/devs/", None, ORG_MEMBER),
    ("patch", f"{ORG}/teams/devs/", {"description": "x"}, ORG_ADMIN.format(ok=200)),
    ("delete", f"{ORG}/teams/devs/", None, ORG_ADMIN.format(ok=204)),
    ("get", f"{ORG}/teams/devs/members/", None, ORG_MEMBER),
    ("put", f"{ORG}/teams/devs/members/olivia/", None, ORG_ADMIN.format(ok=200)),
    ("delete", f"{ORG}/teams/devs/members/mona/", None, ORG_ADMIN.format(ok=204)),
    ("get", f"{ORG}/default-permissions/", None, ORG_ADMIN.format(ok=200)),
    ("put", f"{ORG}/default-permissions/teams/devs/", {"role": "read"}, ORG_ADMIN.format(ok=200)),
    ("delete", f"{ORG}/default-permissions/teams/builders/", None, ORG_ADMIN.format(ok=204)),
    ("get", f"{ORG}/logs/", None, ORG_ADMIN.format(ok=200)),
    ("get", f"{ORG}/security-policy/", None, ORG_ADMIN.format(ok=200)),
    ("put", f"{ORG}/security-policy/", {"block_severity": "high"}, ORG_ADMIN.format(ok=200)),
    ("delete", f"{ORG}/security-policy/", None, ORG_ADMIN.format(ok=204)),

    ("get", f"{ROBOTS}/", None, ORG_ADMIN.format(ok=200)),
    ("post", f"{ROBOTS}/", {"name": "deploy"}, ORG_ADMIN.format(ok=201)),
    ("get", f"{ROBOTS}/ci/", None, ORG_ADMIN.format(ok=200)),
    ("delete", f"{ROBOTS}/ci/", None, ORG_ADMIN.format(ok=204)),
    ("post", f"{ROBOTS}/ci/regenerate/", None, ORG_ADMIN.format(ok=200)),

    ("get", "/api/v1/user/", None, "401" + " 200" * 9),
    ("get", "/api/v1/user/tokens/", None, PERSON.format(ok=200)),
    ("post", "/api/v1/user/tokens/", {"name": "ci", "scopes": ["repo:read"]}, PERSON.format(ok=201)),
    # alice's token: only she may revoke it; to every other person it does not exist.
    ("delete", "/api/v1/user/tokens/{token_id}/", None, "401 404 404 404 404 404 404 204 403 403"),
    ("get", "/api/v1/user/starred/", None, "401" + " 200" * 7 + " 403 200"),
    ("get", "/api/v1/user/inbox/", None, "401" + " 200" * 7 + " 403 200"),
    ("post", "/api/v1/user/inbox/read/", {}, "401" + " 200" * 7 + " 403 200"),
    ("get", "/api/v1/superuser/gc/runs/", None, "401" + " 404" * 9),   # superusers only (tests/api/test_gc_runs.py)
    # superusers only (tests/api/test_security_api.py)
    ("get", "/api/v1/superuser/advisories/", None, "401" + " 404" * 9),
    ("get", "/api/v1/superuser/advisories/imports/", None, "401" + " 404" * 9),
    ("post", "/api/v1/superuser/advisories/imports/", {"url": "https://osv.example/all.zip"}, "401" + " 404" * 9),
]


@pytest.fixture
def tagged(world, client):
    """acme/app's tag v1, pushed on OLD and moved to NEW."""
    assert push_image(client, world.app, "v1", "old") == OLD
    assert push_image(client, world.app, "v1", "new") == NEW


@pytest.fixture
def built(world, monkeypatch):
    """A trigger of acme/app and a running build of it; the queue records instead of sending (the broker and its
    worker are builds.tasks', tested there)."""
    from builds import services
    from tests.builds.factories import make_build, make_trigger

    monkeypatch.setattr(services, "send", lambda build: True)
    trigger = make_trigger(world.app)
    build = make_build(world.app, status="running", trigger=trigger, source_kind="git", commit_sha="b" * 40,
                       ref="refs/heads/main")
    return {"trigger_id": trigger.pk, "build_id": build.pk}


@pytest.fixture
def notified(world, monkeypatch):
    """A webhook notification on acme/app with one delivery in its log; the queue records instead of sending."""
    from notifications import services
    from notifications.models import Delivery

    monkeypatch.setattr("notifications.delivery.send", lambda ids: None)
    created = services.create_notification(world.app, world.principal("owner"), event="repo_push",
                                           method="webhook", target=HOOK)
    delivery = Delivery.objects.create(notification=created.notification, event="repo_push",
                                       payload={"event": "repo_push"})
    return {"notification_id": created.notification.pk, "delivery_id": delivery.pk}


@pytest.mark.parametrize(("method", "url", "body", "codes"), MATRIX, ids=[f"{m.upper()} {u}" for m, u, _, _ in MATRIX])
def test_route_answers_each_persona_as_the_matrix_says(world, as_, request, method, url, body, codes):
    ids = {"token_id": ApiToken.objects.get(user=world.users["owner"], name="read-only").pk}
    if any(route in url for route in BUILD_ROUTES):
        ids |= request.getfixturevalue("built")
    if "/notifications/" in url:
        ids |= request.getfixturevalue("notified")
    url = url.format(**ids)
    if body:
        body = {key: value.format(**ids) if isinstance(value, str) else value for key, value in body.items()}
    if any(route in url for route in TAG_ROUTES):
        request.getfixturevalue("tagged")
    answers = {}
    for persona in PERSONAS:
        with rolled_back():
            response = getattr(as_(persona), method)(url, body, format="json")
        answers[persona] = response.status_code
        if response.status_code >= 400:
            error_of(response)
        if response.status_code == 401:
            assert response["WWW-Authenticate"].startswith("Bearer")

    assert answers == dict(zip(PERSONAS, map(int, codes.split()), strict=True))


def test_every_route_and_method_is_in_the_matrix():
    covered = {(resolve(url.split("?")[0].format(**IDS)).func.view_class, method)  # type: ignore[attr-defined]
               for method, url, _, _ in MATRIX}
    routes = {(pattern.callback.view_class, method)  # type: ignore[attr-defined]
              for pattern in api_urls.urlpatterns if isinstance(pattern, URLPattern)
              and issubclass(getattr(pattern.callback, "view_class", object), ApiView)
              for method in ("get", "post", "put", "patch", "delete")
              if hasattr(pattern.callback.view_class, method)}  # type: ignore[attr-defined]

    assert routes - covered == set()
