"""Two web nodes with DATA_DIRs of their own, sharing only the database, the blob store and the keys, behind
nginx running the repository's deploy/nginx.conf (round robin): whatever one node began, the other finishes."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from registry_api import tokens
from tests.clients.conftest import run
from tests.conftest import ARTIFACTS, ROOT, database_url, free_port, require_tool, wait_for_http
from tests.factories import PASSWORD, make_user

pytestmark = [pytest.mark.clients]
NAME = "alice/app"


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]
    access_log: Path

    def requests(self, method: str) -> int:
        return sum(f'"{method} ' in line for line in self.access_log.read_text().splitlines())


@dataclass
class Deployment:
    port: int            # the proxy's
    nodes: list[Node]


def start_node(env: dict[str, str], work: Path, name: str) -> Node:
    port = free_port()
    access_log = work / f"{name}-access.log"
    access_log.touch()
    log = open(ARTIFACTS / f"two-nodes-{name}.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py", "portal.wsgi:application"], cwd=ROOT,
        env={**env, "DATA_DIR": str(work / name), "PORT": str(port), "WEB_ACCESS_LOG": str(access_log)},
        stdout=log, stderr=subprocess.STDOUT)
    return Node(port, process, access_log)


def nginx_config(work: Path, port: int, nodes: list[Node]) -> Path:
    """deploy/nginx.conf as committed, with the compose service names replaced by the nodes' addresses."""
    config = (ROOT / "deploy/nginx.conf").read_text()
    config = config.replace("server web1:8000", f"server 127.0.0.1:{nodes[0].port}")
    config = config.replace("server web2:8000", f"server 127.0.0.1:{nodes[1].port}")
    config = config.replace("listen 8000;", f"listen 127.0.0.1:{port};")
    temp = work / "nginx"
    temp.mkdir(mode=0o777)
    os.chmod(temp, 0o777)   # nginx's workers may run as nobody
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    paths = "".join(f"    {kind}_temp_path {temp / kind};\n" for kind in kinds)
    config = config.replace("http {\n", f"http {{\n    access_log {work / 'nginx-access.log'};\n{paths}", 1)
    path = work / "nginx.conf"
    path.write_text(f"pid {work / 'nginx.pid'};\nerror_log {work / 'nginx-error.log'};\n{config}")
    return path


@pytest.fixture
def deployment(transactional_db, tmp_path) -> Iterator[Deployment]:  # type: ignore[no-untyped-def]
    require_tool("nginx")
    make_user("alice")
    proxy_port = free_port()
    key = tokens.keyring().private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()).decode()
    env = {**{k: v for k, v in os.environ.items() if k not in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")},
           "DATABASE_URL": database_url(), "WHARF_STORAGE_PATH": settings.WHARF_STORAGE["PATH"],
           "WHARF_TOKEN_KEY": key, "SECRET_KEY": secrets.token_urlsafe(50), "WHARF_TRUSTED_PROXIES": "1",
           "WHARF_SITE_URL": f"http://127.0.0.1:{proxy_port}", "WEB_WORKERS": "1", "WEB_THREADS": "4",
           "DATABASE_CONN_MAX_AGE": "0", "DJANGO_SETTINGS_MODULE": "portal.settings"}
    nodes = [start_node(env, tmp_path, "node1"), start_node(env, tmp_path, "node2")]
    proxy = None
    try:
        for node in nodes:
            wait_for_http(f"http://127.0.0.1:{node.port}/v2/")
        proxy = subprocess.Popen(["nginx", "-p", str(tmp_path), "-e", str(tmp_path / "nginx-error.log"),
                                  "-c", str(nginx_config(tmp_path, proxy_port, nodes)), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_http(f"http://127.0.0.1:{proxy_port}/v2/")
        yield Deployment(proxy_port, nodes)
    finally:
        for process in [p for p in (proxy, *(node.process for node in nodes)) if p is not None]:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def token(port: int) -> str:
    query = urllib.parse.urlencode({"service": "wharf", "scope": f"repository:{NAME}:pull,push"})
    status, _, body = call(port, "GET", f"/v2/auth?{query}",
                           {"Authorization": "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()})
    assert status == 200, body
    return f"Bearer {json.loads(body)['token']}"


def path_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)   # a Location may be absolute
    return parts.path + (f"?{parts.query}" if parts.query else "")


def call(port: int, method: str, url: str, headers: dict[str, str],
         body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    path = path_of(url)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        conn.close()


def patch(port: int, location: str, auth: str, data: bytes, offset: int) -> tuple[int, dict[str, str], bytes]:
    return call(port, "PATCH", location, {"Authorization": auth, "Content-Type": "application/octet-stream",
                                          "Content-Range": f"{offset}-{offset + len(data) - 1}"}, data)


def finish(port: int, location: str, auth: str, digest: str) -> tuple[int, dict[str, str], bytes]:
    separator = "&" if "?" in location else "?"
    return call(port, "PUT", f"{location}{separator}digest={digest}", {"Authorization": auth})


def test_a_chunked_upload_through_the_proxy_alternates_nodes_and_the_blob_pulls_back(deployment) -> None:  # type: ignore[no-untyped-def]
    port = deployment.port
    auth = token(port)   # signed by one node, accepted by both
    chunks = [os.urandom(1 << 20) for _ in range(6)]
    blob = b"".join(chunks)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()

    status, headers, _ = call(port, "POST", f"/v2/{NAME}/blobs/uploads/", {"Authorization": auth})
    assert status == 202
    location, offset = headers["Location"], 0
    for chunk in chunks:
        status, headers, body = patch(port, location, auth, chunk, offset)
        assert status == 202, body
        location, offset = headers["Location"], offset + len(chunk)
    status, _, body = finish(port, location, auth, digest)

    assert status == 201, body
    assert all(node.requests("PATCH") >= 2 for node in deployment.nodes)   # both nodes took chunks
    for _ in deployment.nodes:   # a pull from each node
        status, _, pulled = call(port, "GET", f"/v2/{NAME}/blobs/{digest}", {"Authorization": auth})
        assert status == 200 and pulled == blob


def test_a_node_killed_mid_chunk_leaves_the_upload_for_the_other_node_to_finish(deployment) -> None:  # type: ignore[no-untyped-def]
    one, two = deployment.nodes
    auth = token(one.port)
    first, second = os.urandom(1 << 20), os.urandom(4 << 20)
    digest = "sha256:" + hashlib.sha256(first + second).hexdigest()
    status, headers, _ = call(one.port, "POST", f"/v2/{NAME}/blobs/uploads/", {"Authorization": auth})
    location = headers["Location"]
    status, headers, _ = patch(one.port, location, auth, first, 0)
    assert status == 202
    location = headers["Location"]

    # The second chunk is half sent when node one dies.
    with socket.create_connection(("127.0.0.1", one.port), timeout=10) as sock:
        sock.sendall(f"PATCH {path_of(location)} HTTP/1.1\r\nHost: 127.0.0.1:{one.port}\r\nAuthorization: {auth}\r\n"
                     f"Content-Type: application/octet-stream\r\nContent-Length: {len(second)}\r\n"
                     f"Content-Range: {len(first)}-{len(first) + len(second) - 1}\r\n\r\n".encode())
        sock.sendall(second[: len(second) // 2])
        time.sleep(0.5)
        one.process.send_signal(signal.SIGKILL)
        one.process.wait(timeout=10)

    # The client asks where the upload stands, then sends the chunk again to the other node.
    status, headers, _ = call(two.port, "GET", location, {"Authorization": auth})
    assert status == 204 and headers["Range"] == f"0-{len(first) - 1}"
    status, headers, body = patch(two.port, headers["Location"], auth, second, len(first))
    assert status == 202, body
    status, _, body = finish(two.port, headers["Location"], auth, digest)
    assert status == 201, body
    status, _, pulled = call(two.port, "GET", f"/v2/{NAME}/blobs/{digest}", {"Authorization": auth})
    assert status == 200 and pulled == first + second


def oci_layout(path: Path) -> list[str]:
    """An OCI layout with one image (a config and two layers of random bytes); returns the layer digests."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes, media_type: str) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    layers = [put(os.urandom(size), "application/vnd.oci.image.layer.v1.tar") for size in (3 << 20, 1 << 20)]
    config = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [layer["digest"] for layer in layers]}}).encode(),
        "application/vnd.oci.image.config.v1+json")
    manifest = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": config, "layers": layers}).encode(),
                   "application/vnd.oci.image.manifest.v1+json")
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {**manifest, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}))
    return [str(layer["digest"]) for layer in layers]


def oci_manifest(layout: Path) -> str:
    return str(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]).removeprefix("sha256:")


def test_skopeo_pushes_and_pulls_through_the_proxy(deployment, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_tool("skopeo")
    layers = oci_layout(tmp_path / "pushed")
    target = f"docker://127.0.0.1:{deployment.port}/{NAME}:1"
    creds = f"alice:{PASSWORD}"

    run(["skopeo", "copy", "--quiet", "--dest-creds", creds, "--dest-tls-verify=false",
         f"oci:{tmp_path / 'pushed'}:1", target])
    run(["skopeo", "copy", "--quiet", "--src-creds", creds, "--src-tls-verify=false", target,
         f"oci:{tmp_path / 'pulled'}:1"])

    # skopeo compresses the layers on the way to a registry: what comes back unpacks to the bytes pushed.
    pulled = tmp_path / "pulled" / "blobs" / "sha256"
    manifest = json.loads((pulled / oci_manifest(tmp_path / "pulled")).read_bytes())
    unpacked = [hashlib.sha256(gzip.decompress((pulled / layer["digest"].removeprefix("sha256:")).read_bytes()))
                for layer in manifest["layers"]]
    assert [f"sha256:{digest.hexdigest()}" for digest in unpacked] == layers
    assert all(node.requests("PUT") >= 1 or node.requests("PATCH") >= 1 for node in deployment.nodes)
    assert not re.search(r"\[(?:error|crit|alert|emerg)\]", (tmp_path / "nginx-error.log").read_text())
