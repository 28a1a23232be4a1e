"""podman against a live Wharf with each kind of credential: a password, a robot token (`acme+ci`) and a
personal API token; pushes and pulls are allowed or refused as the permissions say, and a regenerated robot
token ends the old one at once.

One tiny image (one small layer, written as an OCI layout by hand and imported once) serves every test.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from portal.access import Principal
from portal.accounts import services as account_services
from portal.accounts.models import Robot, User
from portal.repositories.models import Repository
from tests.clients.conftest import Clients
from tests.conftest import LiveServer, require_tool
from tests.factories import PASSWORD, grant, make_api_token, make_organization, make_repository, make_robot, make_user

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]

IMAGE = "localhost/wharf-accounts-tiny:1"


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def write_tiny_layout(layout: Path) -> None:
    """An OCI image layout holding one image of one file, tagged "1"."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        content = b"hello from the accounts tests\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(content), 0
        tar.addfile(info, io.BytesIO(content))
    layer = buffer.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]}})
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(layout, config.encode())},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **_blob(layout, layer)}],
    }).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **_blob(layout, manifest),
        "annotations": {"org.opencontainers.image.ref.name": "1"}}]}
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


@pytest.fixture(scope="module")
def tiny_layout(clients: Clients, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny image as an OCI layout, also imported into the clients' storage as IMAGE for podman push."""
    require_tool("podman", "skopeo")
    layout = tmp_path_factory.mktemp("accounts-tiny") / "layout"
    write_tiny_layout(layout)
    clients.skopeo("copy", "--quiet", f"oci:{layout}:1", clients.storage_ref(IMAGE))
    return layout


@dataclass
class Acme:
    """acme/app (private, holding the tiny image as :1) with robots ci (write) and puller (read); olivia
    owns acme; bob is an outsider; writer and reader are users with API tokens."""

    server: LiveServer
    ci_token: str
    puller_token: str
    read_token: str
    write_token: str


@pytest.fixture
def acme(live_server_wharf: LiveServer, clients: Clients, tiny_layout: Path, transactional_db: None) -> Iterator[Acme]:
    olivia = make_user("olivia")
    make_user("bob")
    make_organization("acme", owner=olivia)
    app = make_repository("acme/app")
    ci, ci_token = make_robot("acme", "ci")
    puller, puller_token = make_robot("acme", "puller")
    grant(app, "write", robot=ci)
    grant(app, "read", robot=puller)
    writer = make_user("walter")
    grant(app, "write", user=writer)
    read_token = make_api_token(writer, "repo:read", name="read-only")
    write_token = make_api_token(writer, "repo:read", "repo:write", name="read-write")
    # Seed acme/app:1 without a login, so that each test starts from the same repository.
    clients.skopeo("copy", "--quiet", "--dest-creds", f"olivia:{PASSWORD}", "--dest-tls-verify=false",
                   f"oci:{tiny_layout}:1", f"docker://{live_server_wharf.host}/acme/app:1")
    yield Acme(live_server_wharf, ci_token, puller_token, read_token, write_token)
    clients.podman("logout", "--all", check=False)


def login(clients: Clients, acme: Acme, username: str, secret: str, check: bool = True) -> bool:
    result = clients.podman("login", "--tls-verify=false", "--username", username, "--password", secret,
                            acme.server.host, check=check)
    return result.returncode == 0


def push(clients: Clients, acme: Acme, tag: str, name: str = "acme/app") -> bool:
    """podman push of the tiny image with the saved login; whether it succeeded."""
    result = clients.podman("push", "--tls-verify=false", IMAGE, f"docker://{acme.server.host}/{name}:{tag}",
                            check=False)
    return result.returncode == 0


def pull(clients: Clients, acme: Acme, reference: str = "acme/app:1") -> bool:
    result = clients.podman("pull", "--tls-verify=false", "--quiet", f"{acme.server.host}/{reference}", check=False)
    return result.returncode == 0


def tags(name: str = "acme/app") -> set[str]:
    repository = Repository.objects.filter(full_name=name).first()
    return set() if repository is None else set(repository.tags.values_list("name", flat=True))


def test_a_password_logs_in_pushes_and_pulls_and_a_wrong_one_does_not(clients: Clients, acme: Acme) -> None:
    assert not login(clients, acme, "olivia", "not her password", check=False)
    assert not login(clients, acme, "nobody", PASSWORD, check=False)

    assert login(clients, acme, "olivia", PASSWORD)
    assert push(clients, acme, "by-password")
    assert pull(clients, acme, "acme/app:by-password")
    assert push(clients, acme, "1", name="acme/created-by-push")     # an owner creates by push
    assert tags() == {"1", "by-password"}
    assert Repository.objects.get(full_name="acme/created-by-push").visibility == "private"


def test_a_robot_with_write_pushes_with_its_token(clients: Clients, acme: Acme) -> None:
    assert login(clients, acme, "acme+ci", acme.ci_token)
    assert clients.podman("login", "--get-login", acme.server.host).stdout.strip() == "acme+ci"

    assert push(clients, acme, "by-robot")
    assert pull(clients, acme)
    assert not push(clients, acme, "1", name="acme/robots-never-create")
    assert tags() == {"1", "by-robot"}
    assert not Repository.objects.filter(full_name="acme/robots-never-create").exists()


def test_a_robot_with_read_pulls_but_cannot_push(clients: Clients, acme: Acme) -> None:
    assert login(clients, acme, "acme+puller", acme.puller_token)

    assert pull(clients, acme)
    assert not push(clients, acme, "by-puller")
    assert tags() == {"1"}


def test_a_robot_is_refused_with_another_robots_token(clients: Clients, acme: Acme) -> None:
    assert not login(clients, acme, "acme+puller", acme.ci_token, check=False)


@pytest.mark.parametrize("username", ["walter", "$token"])
def test_an_api_token_logs_in_and_is_held_to_its_scopes(clients: Clients, acme: Acme, username: str) -> None:
    assert login(clients, acme, username, acme.read_token)
    assert pull(clients, acme)
    assert not push(clients, acme, "by-read-token")          # repo:read only, though walter may write

    assert login(clients, acme, username, acme.write_token)
    assert push(clients, acme, "by-write-token")
    assert tags() == {"1", "by-write-token"}


def test_an_outsider_cannot_pull_a_private_repository(clients: Clients, acme: Acme) -> None:
    assert login(clients, acme, "bob", PASSWORD)

    private = clients.podman("pull", "--tls-verify=false", f"{acme.server.host}/acme/app:1", check=False)
    missing = clients.podman("pull", "--tls-verify=false", f"{acme.server.host}/acme/nothing:1", check=False)

    assert private.returncode != 0 and missing.returncode != 0
    assert private.stderr.replace("acme/app", "X") == missing.stderr.replace("acme/nothing", "X")
    assert not push(clients, acme, "by-bob")
    assert tags() == {"1"}


def test_a_regenerated_robot_token_ends_the_old_one_at_once(clients: Clients, acme: Acme) -> None:
    assert login(clients, acme, "acme+ci", acme.ci_token)
    assert push(clients, acme, "before")
    olivia = User.objects.get(username="olivia")

    new_token = account_services.regenerate_robot_token(Principal.for_user(olivia), Robot.objects.get(name="ci"))

    assert not push(clients, acme, "after")                   # the saved login holds the old token
    assert not login(clients, acme, "acme+ci", acme.ci_token, check=False)
    assert login(clients, acme, "acme+ci", new_token)
    assert push(clients, acme, "with-new-token")
    assert tags() == {"1", "before", "with-new-token"}


def test_a_deleted_robot_cannot_log_in(clients: Clients, acme: Acme) -> None:
    Robot.objects.filter(name="ci").delete()

    assert not login(clients, acme, "acme+ci", acme.ci_token, check=False)
