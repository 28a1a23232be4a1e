"""/metrics in process: registry requests counted by route pattern (bounded labels), bytes pushed and pulled,
upload sessions open, queue lengths, the token, and the GC hook. tests/ops/test_live_metrics.py runs the same
through gunicorn's worker processes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

from portal import metrics
from tests.factories import sha256
from tests.registry_api.helpers import OCI_MANIFEST, auth, oci_image, push_manifest

MANIFESTS = "/v2/<name>/manifests/<reference>"
BLOBS = "/v2/<name>/blobs/<digest>"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client: Any, **headers: str) -> str:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_push_and_a_pull_are_counted_by_route_status_and_bytes(client, alice):  # type: ignore[no-untyped-def]
    name = "alice/app"
    gets = sample("wharf_registry_requests_total", route=MANIFESTS, method="GET", status="200")
    blob_gets = sample("wharf_registry_requests_total", route=BLOBS, method="GET", status="200")
    pushed, pulled = sample("wharf_registry_pushed_bytes_total"), sample("wharf_registry_pulled_bytes_total")
    latency = sample("wharf_registry_request_duration_seconds_count", route=MANIFESTS, method="GET")

    manifest = oci_image(client, name)
    push_manifest(client, name, "v1", manifest, OCI_MANIFEST)
    layer = b"layer a"
    for _ in range(3):
        assert client.get(f"/v2/{name}/manifests/v1", HTTP_AUTHORIZATION=auth(name)).status_code == 200
        assert client.get(f"/v2/{name}/blobs/{sha256(layer)}", HTTP_AUTHORIZATION=auth(name)).status_code == 200
    assert client.head(f"/v2/{name}/manifests/v1", HTTP_AUTHORIZATION=auth(name)).status_code == 200

    assert sample("wharf_registry_requests_total", route=MANIFESTS, method="GET", status="200") == gets + 3
    assert sample("wharf_registry_requests_total", route=BLOBS, method="GET", status="200") == blob_gets + 3
    assert sample("wharf_registry_request_duration_seconds_count", route=MANIFESTS, method="GET") == latency + 3
    config = b'{"seed": "a"}'
    assert sample("wharf_registry_pushed_bytes_total") == pushed + len(config) + len(layer) + len(manifest)
    assert sample("wharf_registry_pulled_bytes_total") == pulled + 3 * (len(manifest) + len(layer))   # HEAD: 0


@pytest.mark.django_db(transaction=True)
def test_a_random_path_adds_no_label_value(client, alice):  # type: ignore[no-untyped-def]
    junk = [uuid.uuid4().hex for _ in range(3)]
    client.get(f"/v2/{junk[0]}/whatever/{junk[1]}")
    client.get(f"/v2/alice/{junk[2]}/manifests/{junk[0]}", HTTP_AUTHORIZATION=auth("alice/x"))
    client.generic("BREW", f"/v2/{junk[1]}")

    text = scrape(client)

    assert not any(value in text for value in junk)
    routes = {line.split('route="', 1)[1].split('"', 1)[0] for line in text.splitlines()
              if line.startswith("wharf_registry_requests_total{")}
    assert "/v2/<path>" in routes and MANIFESTS in routes
    assert routes <= {"/v2/", "/v2/auth", "/v2/_catalog", "/v2/<name>/tags/list", MANIFESTS,
                      "/v2/<name>/blobs/uploads/", "/v2/<name>/blobs/uploads/<upload_id>", BLOBS,
                      "/v2/<name>/referrers/<digest>", "/v2/<path>", "unmatched"}   # unmatched: refused before routing
    assert 'method="other"' in text and "BREW" not in text


@pytest.mark.django_db(transaction=True)
def test_the_scrape_reads_open_upload_sessions_and_queue_lengths(client, alice):  # type: ignore[no-untyped-def]
    response = client.post("/v2/alice/app/blobs/uploads/", HTTP_AUTHORIZATION=auth("alice/app"))
    assert response.status_code == 202

    text = scrape(client)

    assert "wharf_upload_sessions_open 1.0" in text
    for queue in ("default", "builds", "scans"):
        assert f'wharf_celery_queue_length{{queue="{queue}"}}' in text


@pytest.mark.django_db(transaction=True)
def test_the_metrics_token_is_required_when_set(client, settings):  # type: ignore[no-untyped-def]
    settings.WHARF_METRICS_TOKEN = "metrics-secret"

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secreT").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic metrics-secret").status_code == 401
    assert "wharf_registry_requests_total" in scrape(client, HTTP_AUTHORIZATION="Bearer metrics-secret")


@pytest.mark.django_db(transaction=True)
def test_gc_results_reach_the_scrape(client):  # type: ignore[no-untyped-def]
    freed = sample("wharf_gc_freed_bytes_total")
    metrics.observe_gc(dry_run=False, blobs_removed=2, manifests_removed=1, bytes_freed=4096, seconds=0.5)
    metrics.observe_gc(dry_run=True, blobs_removed=9, manifests_removed=9, bytes_freed=9, seconds=0.1)

    @metrics.on_scrape
    def last_gc() -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("wharf_gc_last_run_freed_bytes", "test hook", value=4096)]

    @metrics.on_scrape
    def broken() -> list[GaugeMetricFamily]:
        raise RuntimeError("a hook that fails is left out")

    try:
        text = scrape(client)
    finally:
        metrics._scrape_hooks.remove(last_gc)
        metrics._scrape_hooks.remove(broken)

    assert sample("wharf_gc_freed_bytes_total") == freed + 4096   # a dry run frees nothing
    assert 'wharf_gc_runs_total{dry_run="true"}' in text
    assert "wharf_gc_last_run_freed_bytes 4096.0" in text


@pytest.mark.django_db(transaction=True)
def test_a_garbage_collection_run_is_counted_and_its_record_read_at_the_scrape(client):  # type: ignore[no-untyped-def]
    from registry_api.services import gc

    runs = sample("wharf_gc_runs_total", dry_run="false")

    record = gc.run(grace_seconds=0)   # nothing to collect in an empty registry; the run is still one
    text = scrape(client)

    assert sample("wharf_gc_runs_total", dry_run="false") == runs + 1
    readings = dict(line.split(" ", 1) for line in text.splitlines() if line.startswith("wharf_gc_last_run_"))
    assert float(readings["wharf_gc_last_run_finished_timestamp_seconds"]) == record.finished_at.timestamp()
    assert "wharf_gc_last_run_failed 0.0" in text
    assert "wharf_gc_last_run_bytes_freed 0.0" in text
