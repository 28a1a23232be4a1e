"""/v2/ as each persona: who pushes, pulls, deletes and creates by push; what the catalog lists; that a
private repository and a missing one look the same to whoever may not read it; and the audit trail."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from django.test import Client

from portal.access import Principal
from portal.accounts.models import Organization, Robot, Team, User
from portal.audit.models import LogEntry
from portal.repositories.models import DefaultPermission, Repository, RepositoryPermission, RepositoryRole
from tests.auth.conftest import World, registry_header, token_principal
from tests.auth.test_access import READABLE
from tests.factories import PASSWORD, image_manifest, make_api_token, sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ALL = "pull,push,delete"


def header_for(world: World, persona: str, name: str, actions: str = ALL) -> str:
    return registry_header(principal_of(world, persona), f"repository:{name}:{actions}")


def principal_of(world: World, persona: str) -> Principal:
    """A persona from the world, or `token:USER:scope+scope` for one of USER's API tokens."""
    if persona.startswith("token:"):
        _, user, scopes = persona.split(":", 2)
        return token_principal(make_api_token(world.users[user], *scopes.replace("+", " ").split()))
    return world.principal(persona)


def push_image(client: Client, name: str, header: str, tag: str = "v1", seed: str = "x") -> Any:
    """Push a config, a layer and a manifest; the first refused request's response, else the manifest's."""
    config, layer = f'{{"seed": "{seed}"}}'.encode(), f"layer {seed}".encode()
    for data in (config, layer):
        response = client.post(f"/v2/{name}/blobs/uploads/?digest={sha256(data)}", data=data,
                               content_type="application/octet-stream", HTTP_AUTHORIZATION=header)
        if response.status_code != 201:
            return response
    return client.put(f"/v2/{name}/manifests/{tag}", data=image_manifest(config, [layer]),
                      content_type=OCI_MANIFEST, HTTP_AUTHORIZATION=header)


def pull(client: Client, name: str, header: str, tag: str = "v1") -> Any:
    return client.get(f"/v2/{name}/manifests/{tag}", HTTP_AUTHORIZATION=header, HTTP_ACCEPT=OCI_MANIFEST)


@pytest.fixture
def seeded(client: Client, world: World) -> World:
    """acme/app and acme/vault hold an image tagged v1, pushed by the owner."""
    for name in ("acme/app", "acme/vault"):
        assert push_image(client, name, header_for(world, "owner", name)).status_code == 201
    return world


# --- create on push ------------------------------------------------------------------------------------------------

CREATES = [
    ("writer", "writer/new"),
    ("creator", "acme/new"),
    ("owner", "acme/new"),
    ("root", "acme/new"),
    ("token:writer:repo:write+repo:create", "writer/new"),
    ("token:creator:repo:write+repo:create", "acme/new"),
    ("token:owner:repo:admin+repo:create", "acme/new"),
]
REFUSED = [
    ("member", "acme/new"),                       # a member team may not create
    ("teamwriter", "acme/new"),                   # nor may write on another repository of the org
    ("repoadmin", "acme/new"),                    # nor admin on another repository
    ("outsider", "acme/new"),
    ("outsider", "writer/new"),
    ("creator", "globex/new"),                    # creator in acme only
    ("creator", "writer/new"),
    ("disabled", "disabled/new"),
    ("robot:ci", "acme/new"),                     # robots never create
    ("token:writer:repo:write", "writer/new"),    # no repo:create
    ("token:writer:repo:admin", "writer/new"),
    ("token:writer:repo:create", "writer/new"),   # repo:create without a scope that pushes
    ("token:creator:repo:read+repo:create", "acme/new"),
    ("anonymous", "acme/new"),
]


@pytest.mark.parametrize(("persona", "name"), CREATES)
def test_a_push_creates_a_private_repository_where_the_pusher_may_create(client: Client, world: World,
                                                                         persona: str, name: str) -> None:
    response = push_image(client, name, header_for(world, persona, name))

    assert response.status_code == 201, response.content
    repository = Repository.objects.get(full_name=name)
    assert repository.visibility == "private"
    assert LogEntry.objects.filter(kind="repo_create", repository_name=name).exists()


@pytest.mark.parametrize(("persona", "name"), REFUSED)
def test_a_push_creates_nothing_where_the_pusher_may_not_create(client: Client, world: World, persona: str,
                                                                name: str) -> None:
    response = push_image(client, name, header_for(world, persona, name))

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert not Repository.objects.filter(full_name=name).exists()


def test_a_forged_grant_to_create_is_checked_again_live(client: Client, world: World) -> None:
    """A token that says push on a missing repository (issued when the caller was a creator) is not enough."""
    header = header_for(world, "creator", "acme/new")
    Team.objects.filter(name="builders").update(role=1)   # demoted to a member team

    assert push_image(client, "acme/new", header).status_code == 401
    assert not Repository.objects.filter(full_name="acme/new").exists()


def test_the_creator_gets_admin_on_what_they_created(client: Client, world: World) -> None:
    push_image(client, "acme/new", header_for(world, "creator", "acme/new"))
    creator = world.users["creator"]

    permission = RepositoryPermission.objects.get(repository__full_name="acme/new", user=creator)
    assert permission.role == RepositoryRole.ADMIN
    deleted = client.delete("/v2/acme/new/manifests/v1", HTTP_AUTHORIZATION=header_for(world, "creator", "acme/new"))
    assert deleted.status_code == 202
    # and nothing more: the other repositories of the organization stay closed to the creator
    assert pull(client, "acme/vault", header_for(world, "creator", "acme/vault")).status_code == 401


def test_the_organizations_default_permissions_apply_to_a_repository_created_by_push(client: Client,
                                                                                     world: World) -> None:
    acme = Organization.objects.get(name="acme")
    DefaultPermission.objects.create(organization=acme, team=Team.objects.get(name="staff"), role=RepositoryRole.READ)
    DefaultPermission.objects.create(organization=acme, robot=Robot.objects.get(name="puller"),
                                     role=RepositoryRole.WRITE)
    DefaultPermission.objects.create(organization=acme, user=world.users["reader"], role=RepositoryRole.ADMIN)

    assert push_image(client, "acme/new", header_for(world, "creator", "acme/new")).status_code == 201

    grants = {(p.team_id and "team" or p.robot_id and "robot" or "user", p.role)
              for p in RepositoryPermission.objects.filter(repository__full_name="acme/new")}
    assert grants == {("team", RepositoryRole.READ), ("robot", RepositoryRole.WRITE),
                      ("user", RepositoryRole.ADMIN)}
    assert pull(client, "acme/new", header_for(world, "member", "acme/new")).status_code == 200
    assert push_image(client, "acme/new", header_for(world, "robot:puller", "acme/new"), tag="v2",
                      seed="y").status_code == 201
    assert client.delete("/v2/acme/new/manifests/v2",
                         HTTP_AUTHORIZATION=header_for(world, "reader", "acme/new")).status_code == 202
    # The defaults are copied in; a default added later does not reach repositories already made.
    assert push_image(client, "acme/other", header_for(world, "creator", "acme/other")).status_code == 201
    DefaultPermission.objects.all().delete()
    assert pull(client, "acme/other", header_for(world, "member", "acme/other")).status_code == 200


# --- pushes and pulls on existing repositories -----------------------------------------------------------------

MAY = {
    # persona: (pull acme/app, push acme/app, delete a tag of acme/app)
    "anonymous": (False, False, False),
    "outsider": (False, False, False),
    "member": (False, False, False),
    "creator": (False, False, False),
    "reader": (True, False, False),
    "writer": (True, True, True),
    "teamwriter": (True, True, True),
    "repoadmin": (True, True, True),
    "owner": (True, True, True),
    "disabled": (False, False, False),
    "root": (True, True, True),
    "robot:ci": (True, True, True),
    "robot:puller": (True, False, False),
    "robot:idle": (False, False, False),
    "token:writer:repo:read": (True, False, False),
    "token:writer:repo:write": (True, True, True),
    "token:writer:repo:admin": (True, True, True),
    "token:owner:repo:read": (True, False, False),
    "token:owner:repo:create": (False, False, False),
    "token:owner:org:admin+user:admin": (False, False, False),
    "token:reader:repo:admin": (True, False, False),
}


@pytest.mark.parametrize("persona", MAY)
def test_each_persona_pulls_pushes_and_deletes_exactly_as_permitted(client: Client, seeded: World,
                                                                    persona: str) -> None:
    header = header_for(seeded, persona, "acme/app")
    may_pull, may_push, may_delete = MAY[persona]

    pulled = pull(client, "acme/app", header)
    pushed = push_image(client, "acme/app", header, tag="v2", seed=persona)
    deleted = client.delete("/v2/acme/app/manifests/v1", HTTP_AUTHORIZATION=header)

    assert pulled.status_code == (200 if may_pull else 401)
    assert pushed.status_code == (201 if may_push else 401)
    assert deleted.status_code == (202 if may_delete else 401)
    tags = set(Repository.objects.get(full_name="acme/app").tags.values_list("name", flat=True))
    assert tags == {"v1", "v2"} - ({"v1"} if may_delete else set()) - (set() if may_push else {"v2"})


def test_a_public_repository_is_pulled_by_anyone_and_pushed_by_its_writers_only(client: Client,
                                                                                world: World) -> None:
    assert push_image(client, "acme/site", header_for(world, "owner", "acme/site")).status_code == 201
    anonymous = registry_header(Principal(), "repository:acme/site:pull,push")

    assert pull(client, "acme/site", anonymous).status_code == 200
    assert client.get("/v2/acme/site/manifests/v1").status_code == 401    # a token is still needed
    assert push_image(client, "acme/site", anonymous, tag="v2").status_code == 401
    assert push_image(client, "acme/site", header_for(world, "outsider", "acme/site"), tag="v2").status_code == 401
    assert pull(client, "acme/site", header_for(world, "robot:idle", "acme/site")).status_code == 200


def test_a_blob_mount_needs_read_on_the_source(client: Client, seeded: World) -> None:
    layer = sha256(b"layer x")
    writer = registry_header(seeded.principal("writer"), "repository:writer/tools:pull,push",
                             "repository:acme/app:pull", "repository:acme/vault:pull")

    from_vault = client.post(f"/v2/writer/tools/blobs/uploads/?mount={layer}&from=acme/vault",
                             HTTP_AUTHORIZATION=writer)
    from_app = client.post(f"/v2/writer/tools/blobs/uploads/?mount={layer}&from=acme/app",
                           HTTP_AUTHORIZATION=writer)

    assert from_vault.status_code == 202      # no mount: an ordinary upload starts
    assert from_app.status_code == 201


# --- the catalog ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("persona", [p for p in READABLE if p != "disabled"])
def test_the_catalog_lists_exactly_what_each_persona_may_read(client: Client, world: World, persona: str) -> None:
    header = registry_header(world.principal(persona), "registry:catalog:*")

    response = client.get("/v2/_catalog", HTTP_AUTHORIZATION=header)

    assert response.status_code == 200
    assert response.json()["repositories"] == sorted(READABLE[persona])


def test_a_disabled_user_has_no_catalog_even_with_a_token_issued_before(client: Client, world: World) -> None:
    header = registry_header(Principal.for_user(world.users["writer"]), "registry:catalog:*")
    User.objects.filter(username="writer").update(is_active=False)

    assert client.get("/v2/_catalog", HTTP_AUTHORIZATION=header).status_code == 401


def test_the_catalog_of_a_token_follows_its_scopes(client: Client, world: World) -> None:
    for scopes, expected in [("repo:read", READABLE["owner"]), ("repo:create", {"acme/site"})]:
        principal = token_principal(make_api_token(world.users["owner"], scopes, name=scopes))
        response = client.get("/v2/_catalog", HTTP_AUTHORIZATION=registry_header(principal, "registry:catalog:*"))
        assert response.json()["repositories"] == sorted(expected), scopes


def test_the_catalog_pages_skip_nothing_and_show_nothing_unreadable(client: Client, world: World) -> None:
    header = registry_header(world.principal("owner"), "registry:catalog:*")
    seen, url = [], "/v2/_catalog?n=1"
    while url:
        response = client.get(url, HTTP_AUTHORIZATION=header)
        seen += response.json()["repositories"]
        url = response.headers.get("Link", "").partition("<")[2].partition(">")[0]

    assert seen == sorted(READABLE["owner"])


# --- enumeration -----------------------------------------------------------------------------------------------

DIGEST = sha256(b"layer x")
UPLOAD = str(uuid.UUID(int=7))
ROUTES = [
    ("get", "/v2/{name}/tags/list", {}),
    ("get", "/v2/{name}/manifests/v1", {}),
    ("head", "/v2/{name}/manifests/v1", {}),
    ("get", f"/v2/{{name}}/manifests/{DIGEST}", {}),
    ("put", "/v2/{name}/manifests/v1", {"data": b"{}", "content_type": OCI_MANIFEST}),
    ("delete", "/v2/{name}/manifests/v1", {}),
    ("delete", f"/v2/{{name}}/manifests/{DIGEST}", {}),
    ("get", f"/v2/{{name}}/blobs/{DIGEST}", {}),
    ("head", f"/v2/{{name}}/blobs/{DIGEST}", {}),
    ("delete", f"/v2/{{name}}/blobs/{DIGEST}", {}),
    ("post", "/v2/{name}/blobs/uploads/", {}),
    ("post", f"/v2/{{name}}/blobs/uploads/?digest={DIGEST}", {"data": b"layer x",
                                                               "content_type": "application/octet-stream"}),
    ("post", f"/v2/{{name}}/blobs/uploads/?mount={DIGEST}&from=acme/app", {}),
    ("get", f"/v2/{{name}}/blobs/uploads/{UPLOAD}", {}),
    ("patch", f"/v2/{{name}}/blobs/uploads/{UPLOAD}", {"data": b"abc", "content_type": "application/octet-stream"}),
    ("put", f"/v2/{{name}}/blobs/uploads/{UPLOAD}?digest={DIGEST}", {}),
    ("delete", f"/v2/{{name}}/blobs/uploads/{UPLOAD}", {}),
    ("get", f"/v2/{{name}}/referrers/{DIGEST}", {}),
]
ASKERS = ["no token", "anonymous token", "outsider", "member", "creator in another org", "robot:idle",
          "token:outsider:repo:admin+repo:create", "token:member:repo:read"]


def _ask(client: Client, world: World, asker: str, method: str, path: str, kwargs: dict[str, Any],
         name: str) -> Any:
    headers = {}
    if asker != "no token":
        principal = {"anonymous token": Principal(), "creator in another org": world.principal("globexowner")}.get(
            asker) or principal_of(world, asker)
        headers["HTTP_AUTHORIZATION"] = registry_header(principal, f"repository:{name}:pull,push,delete,*",
                                                        "repository:acme/app:pull")
    return getattr(client, method)(path.format(name=name), **kwargs, **headers)


def _normalised(response: Any, name: str) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v.replace(name, "NAME") for k, v in response.headers.items()}
    return response.status_code, response.content.replace(name.encode(), b"NAME"), headers


@pytest.mark.parametrize("asker", ASKERS)
def test_a_private_repository_and_a_missing_one_answer_alike_on_every_route(client: Client, seeded: World,
                                                                            asker: str) -> None:
    for method, path, kwargs in ROUTES:
        answers = {name: _normalised(_ask(client, seeded, asker, method, path, kwargs, name), name)
                   for name in ("acme/vault", "acme/absent", "ghost/app")}
        assert answers["acme/vault"] == answers["acme/absent"] == answers["ghost/app"], (method, path)
        assert answers["acme/vault"][0] == 401, (method, path)
    assert not Repository.objects.filter(full_name__in=["acme/absent", "ghost/app"]).exists()
    assert set(Repository.objects.get(full_name="acme/vault").tags.values_list("name", flat=True)) == {"v1"}


# --- the audit trail -------------------------------------------------------------------------------------------

def _entries(kind: str) -> list[tuple[str, str, str, str, str | None]]:
    return list(LogEntry.objects.filter(kind=kind).order_by("id").values_list(
        "actor", "actor_kind", "repository_name", "target", "client_ip"))


def test_push_pull_and_tag_delete_are_audited_with_actor_target_and_client(client: Client, world: World) -> None:
    header = header_for(world, "robot:ci", "acme/app")
    push_image(client, "acme/app", header, tag="v7")
    pull(client, "acme/app", header, tag="v7")
    client.head("/v2/acme/app/manifests/v7", HTTP_AUTHORIZATION=header)
    client.delete("/v2/acme/app/manifests/v7", HTTP_AUTHORIZATION=header, REMOTE_ADDR="10.2.0.1")

    assert _entries("push") == [("acme+ci", "robot", "acme/app", "v7", "127.0.0.1")]
    assert _entries("pull") == [("acme+ci", "robot", "acme/app", "v7", "127.0.0.1")]   # HEAD is no pull
    assert _entries("tag_delete") == [("acme+ci", "robot", "acme/app", "v7", "10.2.0.1")]
    entry = LogEntry.objects.get(kind="push")
    assert entry.detail["digest"].startswith("sha256:")
    assert entry.namespace is not None and entry.namespace.name == "acme"


def test_refused_requests_leave_no_push_or_pull_entries(client: Client, seeded: World) -> None:
    LogEntry.objects.all().delete()
    header = header_for(seeded, "outsider", "acme/app")
    push_image(client, "acme/app", header, tag="v9")
    pull(client, "acme/app", header)

    assert not LogEntry.objects.filter(kind__in=["push", "pull", "repo_create"]).exists()


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def test_a_failed_login_at_the_token_endpoint_is_audited(client: Client, world: World) -> None:
    client.get("/v2/auth?service=wharf", HTTP_AUTHORIZATION=basic("writer", "wrong"), REMOTE_ADDR="10.2.0.2")

    assert _entries("login_failed") == [("", "anonymous", "", "writer", "10.2.0.2")]


def test_robot_and_api_token_use_is_audited_once_a_minute(client: Client, world: World) -> None:
    secret = make_api_token(world.users["writer"], "repo:read", name="laptop")
    for _ in range(3):
        client.get("/v2/auth?service=wharf", HTTP_AUTHORIZATION=basic("acme+ci", world.robots["ci"][1]),
                   REMOTE_ADDR="10.2.0.3")
        client.get("/v2/auth?service=wharf", HTTP_AUTHORIZATION=basic("$token", secret), REMOTE_ADDR="10.2.0.4")

    assert _entries("token_use") == [("acme+ci", "robot", "", "acme+ci", "10.2.0.3"),
                                     ("writer", "token", "", "laptop", "10.2.0.4")]
    namespaces = set(LogEntry.objects.filter(kind="token_use").values_list("namespace__name", flat=True))
    assert namespaces == {"acme", "writer"}
    assert Robot.objects.get(name="ci").last_used_at is not None


def test_a_password_login_is_not_a_token_use(client: Client, world: World) -> None:
    client.get("/v2/auth?service=wharf", HTTP_AUTHORIZATION=basic("writer", PASSWORD))

    assert not LogEntry.objects.filter(kind="token_use").exists()
    assert User.objects.get(username="writer").is_active
