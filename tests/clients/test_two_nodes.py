"""Two web nodes with DATA_DIRs of their own, sharing only the database, Redis and an S3 bucket (moto's), behind
nginx running the repository's deploy/nginx.conf (round robin): whatever one node began, the other finishes; a
pull is redirected to the bucket; a node killed mid-chunk leaves the upload to the other; skopeo pushes and
pulls through the proxy; a Celery worker with a DATA_DIR of its own runs the jobs."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from registry_api.storage.s3lease import LEASE_SECONDS
from tests.clients.conftest import run
from tests.clients.nodes import Cluster, cluster
from tests.conftest import ARTIFACTS, ROOT
from tests.factories import PASSWORD

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]

NAME = "alice/app"
MIB = 1 << 20


@pytest.fixture
def nodes(registry_user, tmp_path: Path) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    with cluster(tmp_path) as running:
        yield running


def token(url: str) -> dict[str, str]:
    answer = requests.get(f"{url}/v2/auth", params={"service": "wharf", "scope": f"repository:{NAME}:pull,push"},
                          auth=("alice", PASSWORD), timeout=30)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def path_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)   # a Location may be absolute
    return parts.path + (f"?{parts.query}" if parts.query else "")


def patch(url: str, location: str, auth: dict[str, str], data: bytes, offset: int) -> requests.Response:
    return requests.patch(f"{url}{path_of(location)}", data=data, timeout=60, headers={
        **auth, "Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{offset + len(data) - 1}"})


def finish(url: str, location: str, auth: dict[str, str], digest: str) -> requests.Response:
    separator = "&" if "?" in location else "?"
    return requests.put(f"{url}{path_of(location)}{separator}digest={digest}", headers=auth, timeout=60)


def pulled(nodes: Cluster, url: str, auth: dict[str, str], digest: str) -> bytes:
    """A blob GET answers 307 to a presigned URL of the bucket; the bytes come from there."""
    answer = requests.get(f"{url}/v2/{NAME}/blobs/{digest}", headers=auth, timeout=60, allow_redirects=False)
    assert answer.status_code == 307, answer.text
    assert answer.headers["Location"].startswith(nodes.s3_url)
    return requests.get(answer.headers["Location"], timeout=60).content


def test_a_chunked_upload_through_the_proxy_alternates_nodes_and_pulls_from_the_bucket(nodes: Cluster) -> None:
    auth = token(nodes.proxy_url)   # signed by one node, accepted by both: the key is shared
    chunks = [os.urandom(MIB) for _ in range(6)]
    blob = b"".join(chunks)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()

    started = requests.post(f"{nodes.proxy_url}/v2/{NAME}/blobs/uploads/", headers=auth, timeout=30)
    assert started.status_code == 202, started.text
    location, offset = started.headers["Location"], 0
    for chunk in chunks:
        answer = patch(nodes.proxy_url, location, auth, chunk, offset)
        assert answer.status_code == 202, answer.text
        location, offset = answer.headers["Location"], offset + len(chunk)
    done = finish(nodes.proxy_url, location, auth, digest)

    assert done.status_code == 201, done.text
    assert all(node.requests("PATCH") >= 2 for node in nodes.nodes)   # both nodes took chunks
    for node in nodes.nodes:
        assert pulled(nodes, node.url, auth, digest) == blob
    assert any(key.endswith(digest.removeprefix("sha256:")) for key in nodes.bucket_keys())


def test_a_node_killed_mid_chunk_leaves_the_upload_for_the_other_node_to_finish(nodes: Cluster) -> None:
    one, two = nodes.nodes
    auth = token(one.url)
    first, second = os.urandom(MIB), os.urandom(4 * MIB)
    digest = "sha256:" + hashlib.sha256(first + second).hexdigest()
    started = requests.post(f"{one.url}/v2/{NAME}/blobs/uploads/", headers=auth, timeout=30)
    answer = patch(one.url, started.headers["Location"], auth, first, 0)
    assert answer.status_code == 202, answer.text
    location = answer.headers["Location"]

    # The second chunk is half sent when node one dies (SIGKILL to its arbiter and workers).
    with socket.create_connection(("127.0.0.1", one.port), timeout=10) as sock:
        sock.sendall(f"PATCH {path_of(location)} HTTP/1.1\r\nHost: 127.0.0.1:{one.port}\r\n"
                     f"Authorization: {auth['Authorization']}\r\nContent-Type: application/octet-stream\r\n"
                     f"Content-Length: {len(second)}\r\nContent-Range: {len(first)}-{len(first) + len(second) - 1}"
                     "\r\n\r\n".encode())
        sock.sendall(second[: len(second) // 2])
        time.sleep(0.5)
        one.kill()

    # The client asks the other node where the upload stands, then sends the chunk again there. The dead node's
    # lease on the upload (registry_api/storage/s3lease.py) keeps it busy until it lapses: the client retries.
    status = requests.get(f"{two.url}{path_of(location)}", headers=auth, timeout=30)
    assert status.status_code == 204 and status.headers["Range"] == f"0-{len(first) - 1}"
    deadline = time.monotonic() + LEASE_SECONDS + 10
    while True:
        answer = patch(two.url, status.headers["Location"], auth, second, len(first))
        if answer.status_code != 400 or "another request is writing" not in answer.text:
            break
        assert time.monotonic() < deadline, "the dead node's lease never lapsed"
        time.sleep(1)
    assert answer.status_code == 202, answer.text
    done = finish(two.url, answer.headers["Location"], auth, digest)

    assert done.status_code == 201, done.text
    assert pulled(nodes, two.url, auth, digest) == first + second


def oci_layout(path: Path) -> list[str]:
    """An OCI layout with one image (a config and two layers of random bytes); returns the layer digests."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes, media_type: str) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    layers = [put(os.urandom(size), "application/vnd.oci.image.layer.v1.tar") for size in (3 * MIB, MIB)]
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


def test_skopeo_pushes_and_pulls_through_the_proxy(nodes: Cluster, tmp_path: Path) -> None:
    layers = oci_layout(tmp_path / "pushed")
    target = f"docker://{nodes.proxy_host}/{NAME}:1"
    creds = f"alice:{PASSWORD}"

    run(["skopeo", "copy", "--quiet", "--dest-creds", creds, "--dest-tls-verify=false",
         f"oci:{tmp_path / 'pushed'}:1", target])
    run(["skopeo", "copy", "--quiet", "--src-creds", creds, "--src-tls-verify=false", target,
         f"oci:{tmp_path / 'pulled'}:1"])

    # skopeo compresses the layers on the way to a registry: what comes back unpacks to the bytes pushed.
    pulled_blobs = tmp_path / "pulled" / "blobs" / "sha256"
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    manifest = json.loads((pulled_blobs / index["manifests"][0]["digest"].removeprefix("sha256:")).read_bytes())
    unpacked = [hashlib.sha256(gzip.decompress((pulled_blobs / layer["digest"].removeprefix("sha256:")).read_bytes()))
                for layer in manifest["layers"]]
    assert [f"sha256:{digest.hexdigest()}" for digest in unpacked] == layers
    assert all(node.requests("PUT") + node.requests("PATCH") >= 1 for node in nodes.nodes)
    assert not re.search(r"\[(?:error|crit|alert|emerg)\]", (tmp_path / "nginx-error.log").read_text())


def push_blob(url: str, auth: dict[str, str], blob: bytes, media_type: str) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    answer = requests.post(f"{url}/v2/{NAME}/blobs/uploads/", params={"digest": digest}, data=blob,
                           headers={**auth, "Content-Type": "application/octet-stream"}, timeout=30)
    assert answer.status_code == 201, answer.text
    return {"mediaType": media_type, "digest": digest, "size": len(blob)}


def test_a_worker_with_a_data_dir_of_its_own_runs_the_jobs(nodes: Cluster, tmp_path: Path) -> None:
    from celery import Celery

    from registry_api.models import Tag

    auth = token(nodes.proxy_url)
    config = push_blob(nodes.proxy_url, auth, b"{}", "application/vnd.oci.image.config.v1+json")
    layer = push_blob(nodes.proxy_url, auth, os.urandom(1024), "application/vnd.oci.image.layer.v1.tar")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config, "layers": [layer]}).encode()
    answer = requests.put(f"{nodes.proxy_url}/v2/{NAME}/manifests/old", data=manifest, timeout=30,
                          headers={**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert answer.status_code == 201, answer.text
    Tag.objects.filter(repository__full_name=NAME, name="old").update(expires_at=timezone.now() - timedelta(seconds=1))

    data_dir = tmp_path / "worker"
    data_dir.mkdir()
    with open(ARTIFACTS / "nodes-worker.log", "ab") as log:
        # What earlier tests left in the shared queue would run first (and a long one hold the worker's stop).
        subprocess.run([sys.executable, "-m", "celery", "-A", "portal", "purge", "-f", "-Q", "default"], cwd=ROOT,
                       env={**nodes.env, "DATA_DIR": str(data_dir)}, stdout=log, stderr=subprocess.STDOUT,
                       timeout=60, check=False)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "default",
             "--concurrency", "1", "--loglevel", "INFO"], cwd=ROOT, env={**nodes.env, "DATA_DIR": str(data_dir)},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # Sent as beat sends it, to the shared broker; the worker shares nothing else with the nodes. The app
            # is one of its own (this process's may have the embedded broker), never made the current app: the
            # shared tasks of later tests must keep the portal's.
            sender = Celery(broker=nodes.env["REDIS_URL"], set_as_current=False)
            sender.conf.task_default_queue = "default"
            sender.send_task("portal.repositories.tasks.expire_tags", queue="default")
            sender.close()
            deadline = time.monotonic() + 60
            while Tag.objects.filter(repository__full_name=NAME, name="old").exists():
                assert time.monotonic() < deadline, "the worker did not run the job"
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
