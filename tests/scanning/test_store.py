"""The advisory store: imports upsert by id and `modified`, withdrawn records go with their findings, and the
images a change concerns are matched again from their stored packages (no layer read) with one
vulnerability_found per new finding at or above the threshold."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.management import call_command

from scanning import layers, osv, services, store, tasks
from scanning.models import Advisory, AffectedPackage, Finding, ImportRun, ScanSummary
from scanning.severity import Severity
from scanning.signals import vulnerability_found
from tests.factories import make_repository
from tests.scanning import images

pytestmark = pytest.mark.django_db


@pytest.fixture
def repository(alice):  # type: ignore[no-untyped-def]
    return make_repository("alice/app")


@pytest.fixture
def announced():  # type: ignore[no-untyped-def]
    received: list[dict] = []

    def receiver(sender, **kwargs):  # type: ignore[no-untyped-def]
        received.append(kwargs)

    vulnerability_found.connect(receiver, dispatch_uid="test-announced")
    yield received
    vulnerability_found.disconnect(dispatch_uid="test-announced")


@pytest.fixture
def no_layer_reads_later(monkeypatch, storage):  # type: ignore[no-untyped-def]
    """Call it, and from then on reading a layer (or any blob from storage) fails the test."""
    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a layer was read again")

    def start() -> None:
        monkeypatch.setattr(layers, "index_layer", refuse)
        monkeypatch.setattr(type(storage), "open", refuse)

    return start


def record(name: str, **changes) -> osv.Record:  # type: ignore[no-untyped-def]
    (parsed,) = osv.read(images.FIXTURES / f"{name}.json")
    return replace(parsed, **changes)


def scanned(client, repository, layers_: list[bytes], tag: str) -> int:  # type: ignore[no-untyped-def]
    manifest = images.push_image(client, repository, layers_, tag=tag)
    services.queue(manifest.pk)
    assert tasks.scan_manifest(manifest.pk) == "done"
    return manifest.pk


def test_the_import_command_reads_the_fixture_directory_and_reports_it():
    out = io.StringIO()

    call_command("import_osv", str(images.FIXTURES), stdout=out)

    assert "4 records read" in out.getvalue() and "4 new or updated" in out.getvalue()
    run = ImportRun.objects.get()
    assert (run.records, run.upserted, run.removed, run.errors) == (4, 4, 0, 0)
    assert run.ecosystems == {"PyPI": 1, "npm": 1, "Debian:12": 1, "Alpine:v3.18": 1}
    assert run.finished_at is not None
    dsa = Advisory.objects.get(osv_id="DSA-5532-1")
    assert (dsa.merge_key, dsa.severity) == ("CVE-2023-5363", Severity.UNKNOWN)
    assert set(AffectedPackage.objects.filter(advisory__osv_id="GHSA-p6mc-m468-83gw")
               .values_list("base_ecosystem", "name")) == {("npm", "lodash"), ("npm", "lodash-es")}


def test_a_record_no_newer_than_the_stored_one_is_skipped_and_a_newer_one_replaces_it():
    images.import_fixtures("GHSA-j8r2-6x86-q33q")
    old = record("GHSA-j8r2-6x86-q33q")

    assert store.import_records([old]).upserted == 0

    newer = replace(old, modified=old.modified + timedelta(days=1), summary="changed",
                    affected=[old.affected[0]._replace(name="Requests-Toolbelt")])
    assert store.import_records([newer]).upserted == 1
    advisory = Advisory.objects.get(osv_id=old.id)
    assert advisory.summary == "changed"
    assert list(advisory.affected.values_list("name", flat=True)) == ["requests-toolbelt"]   # PEP 503 form


def test_a_new_advisory_rematches_an_old_image_without_reading_a_layer_and_is_announced_once(
        client, repository, announced, no_layer_reads_later, django_capture_on_commit_callbacks):
    images.import_fixtures("DSA-5532-1")
    manifest_id = scanned(client, repository, [images.debian_base(), images.app_layer(), images.cleanup_layer()],
                          "v1")
    other_id = scanned(client, repository, [images.alpine_base()], "alpine")
    assert ScanSummary.objects.get(manifest_id=manifest_id).high == 0
    no_layer_reads_later()

    with django_capture_on_commit_callbacks(execute=True):   # the events go out after the commit
        run = images.import_fixtures("GHSA-p6mc-m468-83gw", "GHSA-j8r2-6x86-q33q")

    assert run.rematched == 1                                 # the Alpine image holds neither package
    summary = ScanSummary.objects.get(manifest_id=manifest_id)
    assert (summary.high, summary.medium, summary.unknown, summary.fixable) == (1, 1, 1, 3)
    assert [(a["advisory"], a["package"], a["severity"], a["manifest_id"], a["repository_id"]) for a in announced] \
        == [("GHSA-p6mc-m468-83gw", "lodash", Severity.HIGH, manifest_id, repository.pk)]   # medium: below "high"
    assert announced[0]["finding"].merge_key == "CVE-2020-8203"
    assert ScanSummary.objects.get(manifest_id=other_id).total == 0

    with django_capture_on_commit_callbacks(execute=True):
        again = store.import_records([replace(record("GHSA-p6mc-m468-83gw"),
                                              modified=record("GHSA-p6mc-m468-83gw").modified + timedelta(days=1))])
    assert again.rematched == 1 and len(announced) == 1       # the finding is not new: no second event


def test_the_threshold_setting_decides_what_is_announced(client, repository, announced, settings,
                                                         django_capture_on_commit_callbacks):
    settings.WHARF_SCAN_ALERT_SEVERITY = "medium"
    scanned(client, repository, [images.debian_base(), images.app_layer(), images.cleanup_layer()], "v1")

    with django_capture_on_commit_callbacks(execute=True):
        images.import_fixtures()

    assert sorted(a["advisory"] for a in announced) == ["GHSA-j8r2-6x86-q33q", "GHSA-p6mc-m468-83gw"]


def test_advisories_about_one_cve_merge_into_one_finding_with_the_highest_severity_and_lowest_fix(
        client, repository):
    images.import_fixtures("DSA-5532-1")
    manifest_id = scanned(client, repository, [images.debian_base()], "v1")
    dsa = record("DSA-5532-1")
    cve = replace(dsa, id="DEBIAN-CVE-2023-5363", severity=Severity.HIGH, upstream=[],
                  affected=[dsa.affected[0]._replace(ranges=[{"type": "ECOSYSTEM", "events": [
                      {"introduced": "0"}, {"fixed": "3.0.11-1~deb12u3"}]}])])

    store.import_records([cve])

    (finding,) = Finding.objects.filter(manifest_id=manifest_id)
    assert (finding.merge_key, finding.severity, finding.fixed_version, finding.advisory.osv_id) == (
        "CVE-2023-5363", Severity.HIGH, "3.0.11-1~deb12u2", "DEBIAN-CVE-2023-5363")


def test_a_withdrawn_advisory_goes_with_its_findings_and_the_counts_follow(client, repository):
    images.import_fixtures()
    manifest_id = scanned(client, repository, [images.debian_base(), images.app_layer(), images.cleanup_layer()],
                          "v1")
    ghsa = record("GHSA-p6mc-m468-83gw")

    run = store.import_records([replace(ghsa, modified=ghsa.modified + timedelta(days=1),
                                        withdrawn=ghsa.modified + timedelta(days=1))])

    assert (run.removed, run.rematched) == (1, 1)
    assert not Advisory.objects.filter(osv_id=ghsa.id).exists()
    assert not Finding.objects.filter(merge_key="CVE-2020-8203").exists()
    summary = ScanSummary.objects.get(manifest_id=manifest_id)
    assert (summary.high, summary.medium, summary.unknown, summary.fixable) == (0, 1, 1, 2)
