"""Garbage collection beside pushes: runs with no grace period at all, two at a time, while 50 pushes go on; every
push the registry acknowledged pulls whole afterwards.

With no grace period a run may take a blob a push has uploaded but not yet referenced: that push is refused
(MANIFEST_BLOB_UNKNOWN, or 503 for a blob collected as it was uploaded again) and sends it all again, as a
client would. What must never happen is a push acknowledged (201) whose blobs are then gone."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from registry_api import storage
from registry_api.models import Blob, GcRun
from registry_api.services import gc
from tests.client import Client
from tests.factories import make_repository, make_user, sha256
from tests.registry_api.helpers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, auth, descriptor, encode
from tests.registry_api.test_gc import pulls

pytestmark = pytest.mark.django_db(transaction=True)

PUSHES, PUSHERS, REPOSITORIES = 50, 6, 5
# Between two runs of one collector. Back to back, two collectors take a push's blobs almost every time it
# tries (its blobs are unreferenced until its manifest arrives, and there is no grace): it would starve.
PAUSE = 0.1
SHARED = b"a base layer every image shares"
# What a push may be told when a run took its blobs first; anything else (a 500 above all) fails the test.
RETRYABLE = {(400, "MANIFEST_BLOB_UNKNOWN"), (503, "UNAVAILABLE")}


def image(i: int) -> tuple[list[bytes], bytes]:
    config, layer = json.dumps({"image": i}).encode(), f"layer of image {i}".encode() * 50
    body = encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                   "layers": [descriptor(OCI_LAYER, SHARED), descriptor(OCI_LAYER, layer)]})
    return [config, SHARED, layer], body


class Pusher:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers, self.refusals, self.lock = headers, Counter[tuple[int, str]](), threading.Lock()

    def push(self, i: int) -> tuple[str, str]:
        """Push image i to its repository until the registry acknowledges it; (name, digest)."""
        name = f"alice/app{i % REPOSITORIES}"
        blobs, body = image(i)
        client = Client()
        try:
            for _ in range(200):
                answers = [client.post(f"/v2/{name}/blobs/uploads/?digest={sha256(blob)}", data=blob,
                                       content_type="application/octet-stream",
                                       HTTP_AUTHORIZATION=self.headers[name]) for blob in blobs]
                answers = [a for a in answers if a.status_code != 201] or [
                    client.put(f"/v2/{name}/manifests/v{i}", data=body, content_type=OCI_MANIFEST,
                               HTTP_AUTHORIZATION=self.headers[name])]
                if answers[0].status_code == 201:
                    return name, sha256(body)
                self._refused(answers[0])
            raise AssertionError(f"image {i} was refused 200 times")
        finally:
            connection.close()

    def _refused(self, response: Any) -> None:
        refusal = (response.status_code, json.loads(response.content)["errors"][0]["code"])
        assert refusal in RETRYABLE, response.content
        with self.lock:
            self.refusals[refusal] += 1


def collect_until(stop: threading.Event, runs: list[GcRun]) -> None:
    try:
        while not stop.is_set():
            runs.append(gc.run(grace_seconds=0))
            stop.wait(PAUSE)
    finally:
        connection.close()


def test_fifty_pushes_beside_runs_without_a_grace_period_all_pull_whole_afterwards(client):
    make_user("alice")
    names = [f"alice/app{n}" for n in range(REPOSITORIES)]
    for name in names:
        make_repository(name)
    pusher = Pusher({name: auth(name) for name in names})
    for n in range(20):   # garbage from before: uploaded, never referenced
        client.post(f"/v2/alice/app0/blobs/uploads/?digest={sha256(b'garbage %d' % n)}", data=b"garbage %d" % n,
                    content_type="application/octet-stream", HTTP_AUTHORIZATION=pusher.headers["alice/app0"])
    stop, runs = threading.Event(), []   # type: ignore[var-annotated]
    collectors = [threading.Thread(target=collect_until, args=(stop, runs)) for _ in range(2)]
    started = time.monotonic()
    for collector in collectors:
        collector.start()
    try:
        with ThreadPoolExecutor(PUSHERS) as pool:
            pushed = list(pool.map(pusher.push, range(PUSHES)))
    finally:
        stop.set()
        for collector in collectors:
            collector.join()
    final = gc.run(grace_seconds=0)
    elapsed = time.monotonic() - started

    print(f"{PUSHES} pushes beside {len(runs)} runs in {elapsed:.1f} s; refusals {dict(pusher.refusals)}")
    assert len(runs) >= 2 and all(run.error == "" for run in [*runs, final])
    assert all(pulls(client, name, digest) for name, digest in pushed)
    assert all(pulls(client, f"alice/app{i % REPOSITORIES}", f"v{i}") for i in range(PUSHES))
    garbage = {sha256(b"garbage %d" % n) for n in range(20)}
    assert not Blob.objects.filter(digest__in=garbage).exists()
    assert not {storage.blob_key(digest) for digest in garbage} & set(storage.backend().walk("blobs/"))
    assert set(storage.backend().walk("blobs/")) == {storage.blob_key(d) for d in Blob.objects.values_list(
        "digest", flat=True)}
