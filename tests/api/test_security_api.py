"""/api/v1/…/manifests/{digest}/security/: a pushed image, scanned in-process against the fixture advisories,
as readers see it (summary, findings, filters, pages, inventory, SBOM), re-scans by writers, and the advisory
store's superuser routes (an upload imported by the task, called here as the worker would)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from portal.api import advisories
from registry_api import storage
from scanning import receivers, services, tasks
from scanning.models import ImportRun, ScanStatus
from tests.api.conftest import as_user, error_of
from tests.factories import grant, make_robot, make_user
from tests.scanning import images

REPO = "/api/v1/repositories/acme/app"


def scan(manifest_id: int) -> str | None:
    services.queue(manifest_id)
    return tasks.scan_manifest(manifest_id)


@pytest.fixture
def scanned(world, client):
    """acme/app:v1, a Debian image with requests and lodash, scanned against all four fixture advisories."""
    images.import_fixtures()
    base, app = images.debian_base(), images.app_layer()
    manifest = images.push_image(client, world.app, [base, app, images.cleanup_layer()], tag="v1")
    assert scan(manifest.pk) == ScanStatus.DONE
    return {"manifest": manifest, "url": f"{REPO}/manifests/{manifest.digest}/security/",
            "base": images.sha256(base), "app": images.sha256(app)}


def test_a_reader_sees_the_summary_and_the_findings_worst_first(as_, scanned):
    response = as_("reader").get(scanned["url"])

    assert response.status_code == 200
    body = response.json()
    assert body["digest"] == scanned["manifest"].digest and body["platforms"] == []
    summary = body["summary"]
    assert summary.pop("scanned_at") is not None
    assert summary == {"status": "done", "reason": "", "critical": 0, "high": 1, "medium": 1, "low": 0,
                       "negligible": 0, "unknown": 1, "fixable": 3}
    assert body["count"] == 3 and body["next"] is None
    lodash, requests, openssl = body["results"]
    assert lodash == {
        "advisory": "GHSA-p6mc-m468-83gw", "aliases": ["CVE-2020-8203"], "merge_key": "CVE-2020-8203",
        "package": {"name": "lodash", "version": "4.17.15", "kind": "npm", "ecosystem": "npm"},
        "fixed_version": "4.17.19", "severity": "high", "summary": "Prototype Pollution in lodash",
        "layer_digest": scanned["app"]}
    assert (requests["advisory"], requests["severity"], requests["fixed_version"], requests["package"]["kind"]) == (
        "GHSA-j8r2-6x86-q33q", "medium", "2.32.0", "python")
    assert (openssl["advisory"], openssl["merge_key"], openssl["severity"], openssl["package"]["name"],
            openssl["package"]["ecosystem"], openssl["layer_digest"]) == (
        "DSA-5532-1", "CVE-2023-5363", "unknown", "libssl3", "Debian:12", scanned["base"])


@pytest.mark.parametrize(("query", "advisories_seen"), [
    ("severity=high", ["GHSA-p6mc-m468-83gw"]),
    ("severity=MEDIUM", ["GHSA-p6mc-m468-83gw", "GHSA-j8r2-6x86-q33q"]),
    ("severity=unknown&fixable=true", ["GHSA-p6mc-m468-83gw", "GHSA-j8r2-6x86-q33q", "DSA-5532-1"]),
    ("fixable=false", []),
])
def test_the_findings_filter_by_severity_at_or_above_and_by_fix(as_, scanned, query, advisories_seen):
    response = as_("reader").get(f"{scanned['url']}?{query}")

    assert response.status_code == 200
    assert [finding["advisory"] for finding in response.json()["results"]] == advisories_seen
    assert response.json()["summary"]["high"] == 1     # the summary is the image's, whatever the filter


@pytest.mark.parametrize("query", ["severity=bad", "fixable=maybe"])
def test_a_filter_it_cannot_read_is_a_400(as_, scanned, query):
    response = as_("reader").get(f"{scanned['url']}?{query}")

    assert response.status_code == 400
    assert error_of(response)["field"] == query.split("=")[0]


def test_the_findings_come_in_pages(as_, scanned):
    first = as_("reader").get(f"{scanned['url']}?per_page=2").json()
    second = APIClient().get(first["next"])   # anonymous: the private repository is not there for it

    assert (first["count"], len(first["results"])) == (3, 2)
    assert second.status_code == 404
    page_two = as_("reader").get(first["next"]).json()
    assert [finding["advisory"] for finding in page_two["results"]] == ["DSA-5532-1"]
    assert page_two["summary"] == first["summary"]


def test_the_inventory_lists_the_packages_by_name_and_filters_on_it(as_, scanned):
    everything = as_("reader").get(f"{scanned['url']}packages/?per_page=500").json()
    requests = as_("reader").get(f"{scanned['url']}packages/?name=REQUESTS").json()

    names = [package["name"] for package in everything["results"]]
    assert names == sorted(names) and {"libssl3", "zlib1g", "requests", "lodash"} <= set(names)
    assert "lodash-es" not in names        # deleted by the last layer
    assert requests["results"] == [{
        "name": "requests", "version": "2.31.0", "kind": "python", "ecosystem": "PyPI", "source_name": "requests",
        "source_version": "2.31.0", "layer_digest": scanned["app"],
        "path": f"{images.REQUESTS_DIST}/METADATA"}]


def test_the_sbom_is_the_images_cyclonedx_referrer(as_, scanned):
    response = as_("reader").get(f"{scanned['url']}sbom/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.cyclonedx+json"
    document = json.loads(response.content)
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.6"
    assert {"requests", "lodash", "libssl3"} <= {component["name"] for component in document["components"]}


def test_an_image_without_an_sbom_answers_404_for_it(as_, world, client):
    manifest = images.push_image(client, world.app, [images.debian_base()], tag="plain")

    response = as_("reader").get(f"{REPO}/manifests/{manifest.digest}/security/sbom/")
    report = as_("reader").get(f"{REPO}/manifests/{manifest.digest}/security/").json()

    assert response.status_code == 404 and "no SBOM" in error_of(response)["message"]
    assert report["summary"]["status"] == "not_scanned" and report["results"] == []


@pytest.mark.parametrize("suffix", ["", "packages/", "sbom/"])
def test_outsiders_of_a_private_repository_get_the_404_of_a_missing_one(as_, scanned, suffix):
    digest = scanned["manifest"].digest
    private = as_("outsider").get(f"{scanned['url']}{suffix}")
    missing = as_("outsider").get(f"/api/v1/repositories/acme/gone/manifests/{digest}/security/{suffix}")
    no_digest = as_("reader").get(f"{REPO}/manifests/sha256:{'0' * 64}/security/{suffix}")

    assert private.status_code == missing.status_code == no_digest.status_code == 404
    assert json.loads(private.content.replace(b"acme/app", b"acme/gone")) == missing.json()
    assert "no manifest" in error_of(no_digest)["message"]


def test_an_indexs_report_lists_its_platforms_with_their_summaries(as_, world, client):
    images.import_fixtures()
    debian = images.push_image(client, world.app, [images.debian_base(), images.app_layer()])
    alpine = images.push_image(client, world.app, [images.alpine_base()], architecture="arm64")
    index = images.push_index(world.app, [debian, alpine], tag="multi")
    assert scan(index.pk) == ScanStatus.DONE

    body = as_("reader").get(f"{REPO}/manifests/{index.digest}/security/").json()

    assert body["results"] == [] and body["summary"]["status"] == "done"
    assert [(p["digest"], p["os"], p["architecture"], p["summary"]["status"]) for p in body["platforms"]] == [
        (debian.digest, "linux", "amd64", "done"), (alpine.digest, "linux", "arm64", "done")]
    assert body["summary"]["high"] == body["platforms"][0]["summary"]["high"] == 2   # lodash and lodash-es


@pytest.fixture
def sent(monkeypatch):
    """The scans the API sends (the broker's edge), by manifest id."""
    ids: list[int] = []
    monkeypatch.setattr(receivers, "send", lambda manifest_id: ids.append(manifest_id) or True)
    return ids


def test_a_writer_asks_for_a_rescan_and_the_scan_is_sent_once_committed(
        as_, scanned, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_("writer").post(f"{scanned['url']}rescan/")

    assert response.status_code == 202
    assert response.json() == {"queued": True, "status": "queued"}
    assert sent == [scanned["manifest"].pk]
    assert tasks.scan_manifest(scanned["manifest"].pk) == ScanStatus.DONE     # the worker's part


def test_robots_with_write_and_tokens_with_repo_write_may_rescan_but_readers_may_not(
        as_, world, scanned, sent, django_capture_on_commit_callbacks):
    robot, token = make_robot("acme", "deployer")
    grant(world.app, "write", robot=robot)
    writer_token = as_user(world.users["writer"], frozenset({"repo:write"}))
    reader_token = as_user(world.users["writer"], frozenset({"repo:read"}))
    robot_client = APIClient()
    robot_client.credentials(HTTP_AUTHORIZATION=f"Basic {_basic(robot.full_name, token)}")

    assert as_("reader").post(f"{scanned['url']}rescan/").status_code == 403
    assert "lacks the repo:write scope" in error_of(reader_token.post(f"{scanned['url']}rescan/"))["message"]
    assert writer_token.post(f"{scanned['url']}rescan/").status_code == 202
    again = robot_client.post(f"{scanned['url']}rescan/")
    assert again.status_code == 202 and again.json()["status"] == "queued"


def test_a_rescan_while_one_runs_is_not_queued_twice(as_, scanned, sent):
    services.request_rescan(scanned["manifest"].pk)
    services.claim(scanned["manifest"].pk)

    response = as_("writer").post(f"{scanned['url']}rescan/")

    assert response.json() == {"queued": False, "status": "scanning"} and sent == []


def _basic(username: str, secret: str) -> str:
    import base64

    return base64.b64encode(f"{username}:{secret}".encode()).decode()


# --- The advisory store (superusers) ------------------------------------------------------------------------

@pytest.fixture
def root(db):
    return as_user(make_user("root", is_superuser=True))


@pytest.fixture
def enqueued(monkeypatch):
    """The import tasks the API sends (the broker's edge): (source, run id)."""
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(advisories, "enqueue", lambda task, *args: calls.append(args) or True)
    return calls


def test_a_superuser_uploads_an_osv_file_and_the_worker_imports_it(root, enqueued, django_capture_on_commit_callbacks):
    upload = (images.FIXTURES / "GHSA-j8r2-6x86-q33q.json").open("rb")
    with django_capture_on_commit_callbacks(execute=True):
        response = root.post("/api/v1/superuser/advisories/imports/", {"file": upload}, format="multipart")

    assert response.status_code == 202
    run_id = response.json()["id"]
    assert response.json()["source"] == "upload: GHSA-j8r2-6x86-q33q.json"
    assert response.json()["finished_at"] is None
    [(source, sent_id)] = enqueued
    assert sent_id == run_id and source == f"storage:scanning/imports/{run_id}"

    assert tasks.import_advisories(source, run_id) == run_id
    assert tasks.import_advisories(source, run_id) is None       # a duplicate delivery does nothing
    run = ImportRun.objects.get(pk=run_id)
    assert (run.records, run.upserted, run.ecosystems, run.finished_at is not None) == (1, 1, {"PyPI": 1}, True)
    assert storage.backend().size(f"scanning/imports/{run_id}") is None     # the upload is gone
    listed = root.get("/api/v1/superuser/advisories/imports/").json()["results"]
    assert [(row["id"], row["records"]) for row in listed] == [(run_id, 1)]


def test_a_superuser_imports_from_a_url_and_sees_the_store(root, enqueued, django_capture_on_commit_callbacks):
    images.import_fixtures()
    with django_capture_on_commit_callbacks(execute=True):
        response = root.post("/api/v1/superuser/advisories/imports/", {"url": "https://osv.example/all.zip"},
                             format="json")
    store = root.get("/api/v1/superuser/advisories/").json()

    assert response.status_code == 202 and enqueued == [("https://osv.example/all.zip", response.json()["id"])]
    assert store["advisories"] == 4
    assert store["ecosystems"] == {"Alpine:v3.18": 1, "Debian:12": 1, "PyPI": 1, "npm": 1}
    assert store["last_import"]["records"] == 4


@pytest.mark.parametrize("body", [{}, {"url": "file:///etc/passwd"}])
def test_an_import_needs_a_file_or_an_http_url(root, enqueued, body):
    response = root.post("/api/v1/superuser/advisories/imports/", body, format="json")

    assert response.status_code == 400 and enqueued == []


def test_to_anyone_but_a_superuser_the_store_routes_do_not_exist(alice):
    for url in ("/api/v1/superuser/advisories/", "/api/v1/superuser/advisories/imports/"):
        assert as_user(alice).get(url).status_code == 404
        assert APIClient().get(url).status_code == 401
