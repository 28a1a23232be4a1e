"""The world the authorization matrix runs in: one organization, one private repository, and a persona
for every kind of caller the issue names. Each persona can speak to the registry (a registry token from the
same grant logic as the token endpoint), to the REST API and to the pages, the way a real client would."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from portal.access import Principal
from portal.accounts import credentials
from portal.accounts.models import ApiToken, TeamRole, User
from registry_api import auth, tokens
from registry_api import services as registry
from tests.factories import (
    grant,
    make_api_token,
    make_organization,
    make_repository,
    make_robot,
    make_team,
    make_user,
    sha256,
)

PERSONAS = ("anonymous", "outsider", "reader", "writer", "repo_admin", "org_member", "creator", "owner", "robot",
            "weak_token")
INDEX = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


@dataclass
class Persona:
    name: str
    principal: Principal
    user: User | None = None                   # signs in to the pages and the API with a session
    api_headers: dict[str, str] = field(default_factory=dict)   # Basic (robot) or Bearer (API token)

    def registry_headers(self, scope: str) -> dict[str, str]:
        """A registry token for `scope`, granted exactly as the token endpoint would grant it."""
        granted = [g for g in [auth.grant(self.principal, scope)] if g is not None]
        token, _ = tokens.issue(self.principal.username, granted, credentials.credential_of(self.principal))
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@dataclass
class World:
    personas: dict[str, Persona]
    ids: dict[str, Any]


def build_world() -> World:
    outsider, reader, writer, repo_admin = (make_user(n) for n in ("otto", "rita", "walt", "adam"))
    member, creator, owner = (make_user(n) for n in ("mike", "cora", "olivia"))
    acme = make_organization("acme", owner)
    make_team(acme, "devs", TeamRole.MEMBER, member)
    make_team(acme, "builders", TeamRole.CREATOR, creator)
    app = make_repository("acme/app")
    grant(app, "read", user=reader)
    grant(app, "write", user=writer)
    grant(app, "admin", user=repo_admin)
    robot, robot_token = make_robot("acme", "ci")
    grant(app, "read", robot=robot)
    weak = make_api_token(repo_admin, "repo:read")
    registry.put_manifest(app, "v1", INDEX, INDEX_TYPE)
    from scanning import sbom  # the security page's SBOM download finds it

    sbom.attach_sbom(app, image_digest=sha256(INDEX), image_media_type=INDEX_TYPE, image_size=len(INDEX),
                     document=b'{"bomFormat":"CycloneDX"}')

    def person(name: str, user: User) -> Persona:
        return Persona(name, Principal.for_user(user), user)

    basic = base64.b64encode(f"acme+ci:{robot_token}".encode()).decode()
    token_row = ApiToken.objects.get(user=repo_admin)
    personas = {
        "anonymous": Persona("anonymous", Principal()),
        "outsider": person("outsider", outsider),
        "reader": person("reader", reader),
        "writer": person("writer", writer),
        "repo_admin": person("repo_admin", repo_admin),
        "org_member": person("org_member", member),
        "creator": person("creator", creator),
        "owner": person("owner", owner),
        "robot": Persona("robot", credentials.robot_principal(robot.pk, "acme+ci", robot.token_digest),
                         api_headers={"HTTP_AUTHORIZATION": f"Basic {basic}"}),
        "weak_token": Persona("weak_token", credentials.token_principal(token_row) or Principal(),
                              api_headers={"HTTP_AUTHORIZATION": f"Bearer {weak}"}),
    }
    from tests.builds.factories import make_build, make_trigger

    trigger = make_trigger(app, created_by=repo_admin)
    build = make_build(app, trigger=trigger, source_kind="git", commit_sha="b" * 40, log=["STEP 1/1: FROM scratch"])
    from notifications.models import Notification

    notification = Notification.objects.create(repository=app, event="repo_push", method="webhook",
                                               target="https://hooks.example.com/wharf")
    return World(personas, {"robot": robot.pk, "token": token_row.pk, "manifest": sha256(INDEX),
                            "build": build.pk, "trigger": trigger.pk, "notification": notification.pk})
