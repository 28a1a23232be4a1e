"""Operations through a real gunicorn with two worker processes: /metrics sums what every worker counted
(prometheus-client's multiprocess mode), behind the metrics token; the log is JSON lines when asked for; /readyz
of a server whose database and Redis nobody answers names both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, database_url, free_port, wait_for_http
from tests.factories import PASSWORD, sha256
from tests.registry_api.helpers import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, encode

TOKEN = "scrape-secret-7f3a"
MANIFESTS = "/v2/<name>/manifests/<reference>"


@contextmanager
def wharf(tmp: Path, **env: str) -> Iterator[tuple[str, Path]]:
    """A gunicorn running Wharf (2 workers) with `env` on top; yields its URL and its log file."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="wharf-ops-"))
    log_path = tmp / f"server-{port}.log"
    full_env = {**{k: v for k, v in os.environ.items() if k not in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")},
                "DATABASE_URL": database_url(), "DATA_DIR": str(data_dir), "PORT": str(port),
                "WHARF_SITE_URL": f"http://127.0.0.1:{port}", "WEB_WORKERS": "2", "WEB_THREADS": "4",
                "DATABASE_CONN_MAX_AGE": "0", "DJANGO_SETTINGS_MODULE": "portal.settings", **env}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py", "portal.wsgi:application"],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/healthz")
            yield f"http://127.0.0.1:{port}", log_path
        finally:
            process.terminate()
            process.wait(timeout=30)
            shutil.rmtree(data_dir, ignore_errors=True)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def served_by_workers(folder: Path) -> int:
    """How many worker processes counted a manifest GET (each keeps its own counter file)."""
    workers = 0
    for path in folder.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)]):
            if any(s.name == "wharf_registry_requests_total" and s.labels.get("route") == MANIFESTS
                   and s.labels.get("method") == "GET" and s.value for s in metric.samples):
                workers += 1
                break
    return workers


def test_metrics_sum_every_workers_counts_behind_the_token(registry_user, tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "prometheus"
    with wharf(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(folder), WHARF_METRICS_TOKEN=TOKEN,
               WHARF_LOG_FORMAT="json", WEB_ACCESS_LOG="-") as (url, log_path):
        answer = requests.get(f"{url}/v2/auth", auth=("alice", PASSWORD), timeout=10,
                              params={"service": "wharf", "scope": "repository:alice/app:pull,push"})
        headers = {"Authorization": f"Bearer {answer.json()['token']}"}
        config, layer = b'{"live": 1}', os.urandom(50_000)
        for blob in (config, layer):
            response = requests.post(f"{url}/v2/alice/app/blobs/uploads/", params={"digest": sha256(blob)},
                                     data=blob, headers=headers, timeout=10)
            assert response.status_code == 201, response.text
        manifest = encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                           "layers": [descriptor(OCI_LAYER, layer)]})
        response = requests.put(f"{url}/v2/alice/app/manifests/v1", data=manifest, timeout=10,
                                headers={**headers, "Content-Type": OCI_MANIFEST})
        assert response.status_code == 201, response.text
        assert requests.post(f"{url}/v2/alice/app/blobs/uploads/", headers=headers, timeout=10).status_code == 202

        def pull(_: int) -> None:   # a new connection each: either worker may take it
            for path in ("manifests/v1", f"blobs/{sha256(layer)}"):
                assert requests.get(f"{url}/v2/alice/app/{path}", headers=headers, timeout=10).status_code == 200

        pulls = 0
        with ThreadPoolExecutor(8) as pool:
            while pulls < 400 and (pulls == 0 or served_by_workers(folder) < 2):
                list(pool.map(pull, range(16)))
                pulls += 16
        assert served_by_workers(folder) == 2

        assert requests.get(f"{url}/metrics", timeout=10).status_code == 401
        scrapes = [requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
                   for _ in range(4)]
        log = log_path.read_text()

    for scrape in scrapes:   # whichever worker answered, the same sums
        assert scrape.status_code == 200
        values = samples(scrape.text)
        assert values[key("wharf_registry_requests_total", route=MANIFESTS, method="GET", status="200")] == pulls
        assert values[key("wharf_registry_requests_total", route=MANIFESTS, method="PUT", status="201")] == 1
        assert values[key("wharf_registry_pushed_bytes_total")] == len(config) + len(layer) + len(manifest)
        assert values[key("wharf_registry_pulled_bytes_total")] == pulls * (len(manifest) + len(layer))
        assert values[key("wharf_upload_sessions_open")] == 1
        assert key("wharf_celery_queue_length", queue="builds") in values

    lines = [line for line in log.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]   # every line one JSON object
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    access = [e for e in entries if e["logger"] == "gunicorn.access" and e.get("path") == "/v2/alice/app/manifests/v1"]
    assert access and access[0]["method"] in ("GET", "PUT") and access[0]["status"] in (200, 201)
    assert PASSWORD not in log and answer.json()["token"] not in log and TOKEN not in log


@pytest.mark.django_db(transaction=True)
def test_readyz_of_a_server_without_its_database_and_redis_names_both(tmp_path):  # type: ignore[no-untyped-def]
    closed = free_port()
    down = (f"postgresql://wharf:wharf@127.0.0.1:{closed}/wharf" if "postgresql" in database_url()
            else f"sqlite:///{tmp_path / 'missing' / 'wharf.sqlite3'}")
    with wharf(tmp_path, DATABASE_URL=down, CELERY_BROKER_URL=f"redis://127.0.0.1:{closed}/0") as (url, _):
        assert requests.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
        response = requests.get(f"{url}/readyz", timeout=10)

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker", "database"]
    assert body["checks"]["storage"]["ok"]
