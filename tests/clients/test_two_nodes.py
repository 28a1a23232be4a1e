"""Two web nodes that share only the database, Redis and the bucket, behind nginx alternating between them: an
upload begun on one node finishes on the other, a pull is redirected to the bucket, skopeo pushes and pulls
through the proxy, a node killed mid-upload leaves the client's retry to the other, and a Celery worker with
its own DATA_DIR runs the jobs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from tests.clients.conftest import CREDS, Clients, build_image, layer_digests, oci_manifest, to_oci_layout
from tests.clients.nodes import Cluster, Node, cluster
from tests.conftest import ARTIFACTS, ROOT
from tests.factories import PASSWORD

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]

REPOSITORY = "alice/nodes"
MIB = 1 << 20


@pytest.fixture
def nodes(registry_user, tmp_path: Path) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    with cluster(tmp_path) as running:
        yield running


def token(url: str, scope: str = f"repository:{REPOSITORY}:pull,push") -> str:
    answer = requests.get(f"{url}/v2/auth", params={"service": "wharf", "scope": scope},
                          auth=("alice", PASSWORD), timeout=30)
    answer.raise_for_status()
    return str(answer.json()["token"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def start_upload(node: Node, auth: dict[str, str]) -> str:
    answer = requests.post(f"{node.url}/v2/{REPOSITORY}/blobs/uploads/", headers=auth, timeout=30)
    assert answer.status_code == 202, answer.text
    return str(answer.headers["Location"])


def patch(node: Node, location: str, auth: dict[str, str], chunk: bytes, start: int) -> requests.Response:
    return requests.patch(f"{node.url}{location}", data=chunk, timeout=60, headers={
        **auth, "Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(chunk) - 1}"})


def finish(node: Node, location: str, auth: dict[str, str], digest: str) -> requests.Response:
    separator = "&" if "?" in location else "?"
    return requests.put(f"{node.url}{location}{separator}digest={digest}", headers=auth, timeout=60)


def test_a_chunked_upload_begun_on_one_node_finishes_on_the_other_and_pulls_from_the_bucket(nodes: Cluster) -> None:
    first, second = nodes.nodes
    auth = bearer(token(first.url))   # signed by node 1, accepted by node 2: the key is shared, not per node
    data = os.urandom(12 * MIB + 12345)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    location = start_upload(first, auth)
    cut = 6 * MIB
    assert patch(first, location, auth, data[:cut], 0).status_code == 202
    answer = patch(second, location, auth, data[cut:], cut)
    assert answer.status_code == 202, answer.text
    assert answer.headers["Range"] == f"0-{len(data) - 1}"
    done = finish(first, location, auth, digest)

    assert done.status_code == 201, done.text
    pulled = requests.get(f"{nodes.proxy_url}/v2/{REPOSITORY}/blobs/{digest}", headers=auth, timeout=60,
                          allow_redirects=False)
    assert pulled.status_code == 307
    assert pulled.headers["Location"].startswith(nodes.s3_url)
    assert hashlib.sha256(requests.get(pulled.headers["Location"], timeout=60).content).hexdigest() == digest[7:]
    assert any(key.endswith(digest[7:]) for key in nodes.bucket_keys("blobs/"))


def test_a_node_killed_mid_upload_leaves_the_retry_to_the_other(nodes: Cluster) -> None:
    first, second = nodes.nodes
    auth = bearer(token(second.url))
    data = os.urandom(8 * MIB)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = start_upload(first, auth)
    assert patch(first, location, auth, data[: 3 * MIB], 0).status_code == 202

    # Node 1 dies in the middle of the next chunk: the client sees the connection drop.
    sending = subprocess.Popen(
        ["curl", "-s", "-o", "/dev/null", "-X", "PATCH", "--limit-rate", "256k",
         "-H", f"Authorization: {auth['Authorization']}", "-H", "Content-Type: application/octet-stream",
         "-H", f"Content-Range: {3 * MIB}-{8 * MIB - 1}",
         "--data-binary", "@-", f"{first.url}{location}"], stdin=subprocess.PIPE)
    assert sending.stdin is not None
    sending.stdin.write(data[3 * MIB:])
    sending.stdin.close()
    time.sleep(1.0)
    first.kill()
    sending.wait(timeout=30)

    # The client asks the other node where the upload stands, and resumes from there.
    status = requests.get(f"{second.url}{location}", headers=auth, timeout=30)
    assert status.status_code == 204, status.text
    committed = int(status.headers["Range"].split("-")[1]) + 1
    assert committed == 3 * MIB   # the interrupted chunk was never committed
    assert patch(second, location, auth, data[committed:], committed).status_code == 202
    done = finish(second, location, auth, digest)

    assert done.status_code == 201, done.text
    pulled = requests.get(f"{nodes.proxy_url}/v2/{REPOSITORY}/blobs/{digest}", headers=auth, timeout=60)
    assert hashlib.sha256(pulled.content).hexdigest() == digest[7:]


def test_skopeo_pushes_and_pulls_an_image_through_the_proxy(nodes: Cluster, clients: Clients, tmp_path: Path) -> None:
    build_image(clients, "localhost/nodes-app:1", tmp_path / "context", layers=3)
    to_oci_layout(clients, "localhost/nodes-app:1", tmp_path / "layout", "1")
    sent = oci_manifest(tmp_path / "layout", "1")

    clients.skopeo("copy", "--quiet", "--dest-creds", CREDS, "--dest-tls-verify=false",
                   f"oci:{tmp_path / 'layout'}:1", f"docker://{nodes.proxy_host}/{REPOSITORY}:1")
    clients.skopeo("copy", "--quiet", "--src-creds", CREDS, "--src-tls-verify=false",
                   f"docker://{nodes.proxy_host}/{REPOSITORY}:1", f"oci:{tmp_path / 'pulled'}:1")

    assert layer_digests(oci_manifest(tmp_path / "pulled", "1")) == layer_digests(sent)


def push_blob(url: str, auth: dict[str, str], blob: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    answer = requests.post(f"{url}/v2/{REPOSITORY}/blobs/uploads/", params={"digest": digest}, data=blob,
                           headers={**auth, "Content-Type": "application/octet-stream"}, timeout=30)
    assert answer.status_code == 201, answer.text
    return {"digest": digest, "size": len(blob)}


def test_a_worker_with_its_own_data_dir_runs_the_jobs(nodes: Cluster, tmp_path: Path) -> None:
    from celery import Celery

    from registry_api.models import Tag

    auth = bearer(token(nodes.proxy_url))
    config = {**push_blob(nodes.proxy_url, auth, b"{}"), "mediaType": "application/vnd.oci.image.config.v1+json"}
    layer = {**push_blob(nodes.proxy_url, auth, os.urandom(1024)),
             "mediaType": "application/vnd.oci.image.layer.v1.tar"}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config, "layers": [layer]}).encode()
    answer = requests.put(f"{nodes.proxy_url}/v2/{REPOSITORY}/manifests/old", data=manifest, timeout=30,
                          headers={**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert answer.status_code == 201, answer.text
    Tag.objects.filter(repository__full_name=REPOSITORY, name="old").update(
        expires_at=timezone.now() - timedelta(seconds=1))

    data_dir = tmp_path / "worker"
    data_dir.mkdir()
    log = open(ARTIFACTS / "nodes-worker.log", "ab")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "default,builds,scans",
         "--concurrency", "1", "--loglevel", "INFO"], cwd=ROOT, env={**nodes.env, "DATA_DIR": str(data_dir)},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Sent as beat would send it, to the shared broker; the worker shares nothing else with the nodes.
        Celery(broker=nodes.env["REDIS_URL"]).send_task("portal.repositories.tasks.expire_tags", queue="default")
        deadline = time.monotonic() + 60
        while Tag.objects.filter(repository__full_name=REPOSITORY, name="old").exists():
            assert time.monotonic() < deadline, "the worker did not run the job"
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
