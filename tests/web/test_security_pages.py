"""The security pages: the tags page's scan column, an image's vulnerabilities grouped by package with the
Dockerfile step of their layer, its packages, its SBOM, the store's freshness, "Scan again", and the
superuser's advisory import. Images are pushed into real storage and scanned in-process against the fixture
advisories (tests/scanning/osv)."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.repositories.models import Repository
from registry_api import storage as storage_module
from registry_api.models import Manifest
from scanning import services, tasks
from scanning.models import ImportRun, ScanStatus, ScanSummary
from tests.factories import grant, make_repository, make_user
from tests.scanning import images

pytestmark = pytest.mark.django_db

APP_STEP = "RUN pip install requests==2.31.0 && npm install lodash@4.17.15"
STEPS = ["ADD debian-bookworm.tar /", APP_STEP, "RUN rm -rf /app/node_modules/lodash-es"]


@pytest.fixture
def app(alice) -> Repository:  # type: ignore[no-untyped-def]
    return make_repository("alice/app")


def scan(manifest: Manifest) -> None:
    services.queue(manifest.pk)
    assert tasks.scan_manifest(manifest.pk) == ScanStatus.DONE


@pytest.fixture
def vulnerable(client, app) -> Manifest:  # type: ignore[no-untyped-def]
    images.import_fixtures()
    manifest = images.push_image(client, app, [images.debian_base(), images.app_layer(), images.cleanup_layer()],
                                 tag="v1", history=STEPS)
    scan(manifest)
    return manifest


@pytest.fixture
def clean(client, app) -> Manifest:  # type: ignore[no-untyped-def]
    images.import_fixtures()
    manifest = images.push_image(client, app, [images.alpine_base()], tag="clean")
    scan(manifest)
    return manifest


def security_url(manifest: Manifest, rest: str = "") -> str:
    return f"/repository/alice/app/manifest/{manifest.digest}/security/{rest}"


def findings_table(body: str) -> dict[str, list[str]]:
    """package name → its advisory ids, in the page's order."""
    groups = re.findall(r'<tbody class="package" data-package="([^"]+)">(.*?)</tbody>', body, re.S)
    return {name: re.findall(r'data-advisory="([^"]+)"', rows) for name, rows in groups}


# --- The scan column ----------------------------------------------------------------------------------------

def test_the_tags_page_says_passed_for_a_clean_image_and_links_the_counts_of_a_vulnerable_one(
        login_as, alice, vulnerable, clean):
    body = login_as(alice).get("/repository/alice/app/tags/").content.decode()

    passed = re.search(r'<a class="badge public" data-testid="scan-passed" href="([^"]+)">Passed</a>', body)
    assert passed and passed.group(1) == security_url(clean)
    counts = re.search(
        r'<a class="badge scan-counts sev-(\w+)" data-testid="scan-counts" href="([^"]+)"[^>]*>(.*?)</a>', body)
    assert counts is not None
    assert counts.group(1) == "high" and counts.group(2) == security_url(vulnerable)
    assert re.sub(r"<[^>]+>", "", counts.group(3)) == "1 high · 1 medium · 1 unknown"


def test_the_scan_column_shows_queued_failed_with_its_reason_and_unsupported_plainly(login_as, alice, app, client):
    for tag, status, reason in [("q", ScanStatus.QUEUED, ""), ("f", ScanStatus.FAILED, "layer 2 is not a tar"),
                                ("u", ScanStatus.UNSUPPORTED, "not an image")]:
        manifest = images.push_image(client, app, [images.alpine_base()], tag=tag, architecture=tag)
        ScanSummary.objects.create(manifest=manifest, status=status, reason=reason)

    body = login_as(alice).get("/repository/alice/app/tags/").content.decode()

    assert ">queued</span>" in body and ">unsupported</span>" in body
    assert '<span class="badge danger" title="layer 2 is not a tar">failed</span>' in body


def test_the_tags_page_stays_bounded_whatever_the_number_of_scanned_images(login_as, alice, app, client):
    images.import_fixtures()
    scan(images.push_image(client, app, [images.alpine_base()], tag="t0"))
    signed_in = login_as(alice)

    def statements() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert signed_in.get("/repository/alice/app/tags/").status_code == 200
        return len(queries)

    one = statements()
    scan(images.push_image(client, app, [images.debian_base(), images.app_layer()], tag="vulnerable"))
    for n in range(1, 6):
        images.push_image(client, app, [images.alpine_base()], tag=f"t{n}", architecture=f"arch{n}")

    assert statements() == one


def test_the_manifest_and_build_pages_show_the_same_column(login_as, alice, vulnerable):
    body = login_as(alice).get(f"/repository/alice/app/manifest/{vulnerable.digest}/").content.decode()

    assert 'data-testid="scan-counts"' in body and f'href="{security_url(vulnerable)}"' in body


# --- The security page --------------------------------------------------------------------------------------

def test_the_security_page_groups_the_exact_findings_by_package_with_the_step_of_their_layer(
        login_as, bob, app, vulnerable):
    grant(app, "read", user=bob)

    response = login_as(bob).get(security_url(vulnerable))
    body = response.content.decode()

    assert response.status_code == 200
    assert findings_table(body) == {"lodash": ["GHSA-p6mc-m468-83gw"], "requests": ["GHSA-j8r2-6x86-q33q"],
                                    "libssl3": ["DSA-5532-1"]}   # worst first: high, medium, unknown
    assert '<a href="https://osv.dev/vulnerability/GHSA-p6mc-m468-83gw"' in body
    assert "CVE-2020-8203" in body and "<code>4.17.19</code>" in body   # alias and fixed version
    lodash = body[body.index('data-package="lodash"'):body.index('data-package="requests"')]
    assert "layer 2 <code" in lodash and f"{APP_STEP.replace('&', '&amp;')}</code>" in lodash
    assert '<span class="badge sev-high">High</span>' in lodash
    libssl = body[body.index('data-package="libssl3"'):]
    assert "ADD debian-bookworm.tar /" in libssl and "3.0.11-1~deb12u2" in libssl
    assert "Scan again" not in body   # a reader


def test_the_severity_filter_keeps_findings_at_or_above_and_the_fixable_filter_those_with_a_fix(
        login_as, alice, vulnerable):
    client = login_as(alice)

    assert list(findings_table(client.get(security_url(vulnerable) + "?severity=medium").content.decode())) == [
        "lodash", "requests"]
    assert list(findings_table(client.get(security_url(vulnerable) + "?severity=critical").content.decode())) == []
    assert list(findings_table(client.get(security_url(vulnerable) + "?fixable=1").content.decode())) == [
        "lodash", "requests", "libssl3"]   # each fixture advisory names its fix
    page = client.get(security_url(vulnerable) + "?severity=critical").content.decode()
    assert "No vulnerability matches the filter." in page


def test_a_clean_image_shows_no_findings_and_the_stores_freshness(login_as, alice, clean):
    body = login_as(alice).get(security_url(clean)).content.decode()

    assert "No known vulnerabilities." in body
    run = ImportRun.objects.get()
    assert f"last imported {run.finished_at:%Y-%m-%d %H:%M} UTC" in body
    for ecosystem in ("Alpine:v3.18", "Debian:12", "PyPI", "npm"):
        assert f">{ecosystem} 1</span>" in body


def test_without_an_import_the_page_says_how_to_get_advisories(login_as, alice, app, client):
    manifest = images.push_image(client, app, [images.alpine_base()], tag="v1")
    services.queue(manifest.pk)

    body = login_as(alice).get(security_url(manifest)).content.decode()

    assert "No advisories imported yet: an administrator runs <code>manage.py import_osv</code>" in body
    assert "This image has not been scanned." not in body and "The scan is queued." in body


def test_the_packages_view_lists_the_inventory_and_filters_by_name(login_as, alice, vulnerable):
    client = login_as(alice)

    body = client.get(security_url(vulnerable, "packages/")).content.decode()
    assert {"libssl3", "zlib1g", "requests", "lodash"} <= set(re.findall(r'<tr data-package="([^"]+)">', body))
    assert "lodash-es" not in body   # the last layer deleted it

    body = client.get(security_url(vulnerable, "packages/") + "?name=SSL").content.decode()
    assert re.findall(r'<tr data-package="([^"]+)">', body) == ["libssl3"]
    assert "openssl 3.0.11-1~deb12u1" in body and f": {STEPS[0]}" in body


def test_the_sbom_download_is_the_cyclonedx_document_attached_to_the_image(login_as, alice, vulnerable):
    response = login_as(alice).get(security_url(vulnerable, "sbom/"))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="sbom.cdx.json"'
    document = json.loads(b"".join(response.streaming_content))
    assert document["bomFormat"] == "CycloneDX"
    assert "pkg:pypi/requests@2.31.0" in {component.get("purl") for component in document["components"]}


def test_an_image_without_an_sbom_yet_has_no_download(login_as, alice, app, client):
    manifest = images.push_image(client, app, [images.alpine_base()], tag="v1")

    assert login_as(alice).get(security_url(manifest, "sbom/")).status_code == 404
    assert 'data-testid="sbom-download"' not in login_as(alice).get(security_url(manifest)).content.decode()


def test_an_index_lists_its_platforms_with_their_summaries(login_as, alice, app, client):
    images.import_fixtures()
    amd64 = images.push_image(client, app, [images.debian_base(), images.app_layer()])
    arm64 = images.push_image(client, app, [images.alpine_base()], architecture="arm64")
    index = images.push_index(app, [amd64, arm64], tag="multi")
    services.queue(index.pk)
    tasks.scan_manifest(index.pk)

    body = login_as(alice).get(security_url(index)).content.decode()

    assert f'<a href="{security_url(amd64)}">linux/amd64</a>' in body
    assert f'<a href="{security_url(arm64)}">linux/arm64</a>' in body
    assert 'data-testid="scan-passed"' in body and 'data-testid="scan-counts"' in body


def test_outsiders_get_404_for_each_security_page_of_a_private_repository(login_as, charlie, vulnerable):
    client = login_as(charlie)
    for rest in ("", "packages/", "sbom/"):
        assert client.get(security_url(vulnerable, rest)).status_code == 404


# --- Scan again ----------------------------------------------------------------------------------------------

def test_a_writer_can_scan_again_and_a_reader_cannot(login_as, app, bob, charlie, vulnerable):
    grant(app, "read", user=bob)
    grant(app, "write", user=charlie)

    assert login_as(bob).post(security_url(vulnerable), {"action": "rescan"}).status_code == 403
    assert ScanSummary.objects.get(manifest=vulnerable).status == ScanStatus.DONE

    writer = login_as(charlie)
    assert "Scan again" in writer.get(security_url(vulnerable)).content.decode()
    response = writer.post(security_url(vulnerable), {"action": "rescan"})

    assert response.status_code == 302 and response["Location"] == security_url(vulnerable)
    assert ScanSummary.objects.get(manifest=vulnerable).status == ScanStatus.QUEUED
    assert tasks.scan_manifest(vulnerable.pk) == ScanStatus.DONE   # what the sent task does


# --- The superuser's advisories page ------------------------------------------------------------------------

def test_the_advisories_page_is_missing_for_everyone_but_superusers(client, login_as, alice):
    assert client.get("/superuser/advisories/").status_code == 404
    assert login_as(alice).get("/superuser/advisories/").status_code == 404
    assert login_as(alice).post("/superuser/advisories/", {"url": "https://example.com/a.zip"}).status_code == 404
    assert not ImportRun.objects.exists()


def test_an_uploaded_file_is_imported_by_the_task_and_the_page_shows_the_run(login_as, settings, tmp_path,
                                                                               django_capture_on_commit_callbacks,
                                                                               monkeypatch):
    settings.DATA_DIR = tmp_path
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(tasks.import_advisories, "delay", lambda source, run_id: sent.append((source, run_id)))
    root = login_as(make_user("root", is_superuser=True))
    upload = SimpleUploadedFile("GHSA-j8r2-6x86-q33q.json",
                                (images.FIXTURES / "GHSA-j8r2-6x86-q33q.json").read_bytes())

    with django_capture_on_commit_callbacks(execute=True):
        response = root.post("/superuser/advisories/", {"file": upload})

    assert response.status_code == 302
    (source, run_id), = sent
    run = ImportRun.objects.get(pk=run_id)
    assert run.source == "upload: GHSA-j8r2-6x86-q33q.json" and run.finished_at is None
    assert 'badge">running</span>' in root.get("/superuser/advisories/").content.decode()

    assert tasks.import_advisories(source, run_id) == run_id   # what the worker runs

    run.refresh_from_db()
    assert (run.records, run.upserted, run.ecosystems, run.error) == (1, 1, {"PyPI": 1}, "")
    assert source.startswith(tasks.UPLOAD_PREFIX)
    assert storage_module.backend().size(source.removeprefix(tasks.UPLOAD_PREFIX)) is None   # the upload is gone
    body = root.get("/superuser/advisories/").content.decode()
    assert 'badge public">done</span>' in body and ">PyPI 1</span>" in body
    assert tasks.import_advisories(source, run_id) is None   # a second delivery does nothing


def test_an_import_that_cannot_read_its_source_says_why(login_as, monkeypatch):
    monkeypatch.setattr(tasks.import_advisories, "delay", lambda source, run_id: None)
    root = login_as(make_user("root", is_superuser=True))
    run = ImportRun.objects.create(source="/nowhere/at/all.zip")

    assert tasks.import_advisories("/nowhere/at/all.zip", run.pk) is None

    run.refresh_from_db()
    assert run.finished_at is not None and "no such file" in run.error
    assert 'badge danger"' in root.get("/superuser/advisories/").content.decode()


def test_the_import_form_wants_a_file_or_a_url(login_as):
    root = login_as(make_user("root", is_superuser=True))

    response = root.post("/superuser/advisories/", {})

    assert response.status_code == 400 and "Upload a file or give a URL" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_only_a_superusers_menu_links_the_advisories_page(login_as, alice):
    assert 'href="/superuser/advisories/"' in login_as(make_user("root", is_superuser=True)).get("/").content.decode()
    assert 'href="/superuser/advisories/"' not in login_as(alice).get("/").content.decode()
