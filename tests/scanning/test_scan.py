"""Scanning pushed images: layers read from real storage, the inventory matched against the fixture
advisories, the exact findings and the summary; the layer cache, indexes, artifacts and hostile layers."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from registry_api import storage as storage_module
from registry_api.models import Manifest
from registry_api.storage.base import blob_key
from scanning import layers, receivers, services, summaries, tasks
from scanning.models import Finding, ImagePackage, LayerIndexCache, ScanStatus, ScanSummary
from scanning.severity import Severity
from tests.factories import make_repository
from tests.scanning import images

pytestmark = pytest.mark.django_db


@pytest.fixture
def repository(alice):  # type: ignore[no-untyped-def]
    return make_repository("alice/app")


@pytest.fixture
def index_calls(monkeypatch):  # type: ignore[no-untyped-def]
    """The digests of layers read from storage, in order."""
    calls: list[int] = []
    real = layers.index_layer

    def counting(stream, media_type, limits):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(stream, media_type, limits)

    monkeypatch.setattr(layers, "index_layer", counting)
    return calls


def scan(manifest_id: int) -> str | None:
    services.queue(manifest_id)
    return tasks.scan_manifest(manifest_id)


def findings(manifest_id: int) -> set[tuple[str, str, str, str, int, str, str]]:
    return {(f.package.name, f.package.version, f.advisory.osv_id, f.merge_key, f.severity, f.fixed_version,
             f.package.layer_digest)
            for f in Finding.objects.filter(manifest_id=manifest_id).select_related("package", "advisory")}


def test_a_debian_image_with_python_and_npm_packages_gets_exactly_the_expected_findings(client, repository):
    images.import_fixtures()
    base, app, cleanup = images.debian_base(), images.app_layer(), images.cleanup_layer()
    manifest = images.push_image(client, repository, [base, app, cleanup], tag="v1")

    assert scan(manifest.pk) == ScanStatus.DONE

    base_digest, app_digest = images.sha256(base), images.sha256(app)
    assert findings(manifest.pk) == {
        ("libssl3", "3.0.11-1~deb12u1", "DSA-5532-1", "CVE-2023-5363", Severity.UNKNOWN, "3.0.11-1~deb12u2",
         base_digest),
        ("requests", "2.31.0", "GHSA-j8r2-6x86-q33q", "CVE-2024-35195", Severity.MEDIUM, "2.32.0", app_digest),
        ("lodash", "4.17.15", "GHSA-p6mc-m468-83gw", "CVE-2020-8203", Severity.HIGH, "4.17.19", app_digest),
    }   # lodash-es 4.17.15 is affected too, but the last layer deleted it
    packages = ImagePackage.objects.filter(manifest=manifest)
    assert {(p.name, p.ecosystem) for p in packages} >= {("libssl3", "Debian:12"), ("requests", "PyPI"),
                                                          ("lodash", "npm"), ("zlib1g", "Debian:12")}
    assert not packages.filter(name="lodash-es").exists()
    summary = summaries.summaries([manifest.pk])[manifest.pk]
    assert (summary.status, summary.critical, summary.high, summary.medium, summary.low, summary.negligible,
            summary.unknown, summary.fixable) == ("done", 0, 1, 1, 0, 0, 1, 3)
    assert ScanSummary.objects.get(manifest=manifest).scanned_at is not None
    # Its SBOM is a referrer of the image in the same repository, listing what was found.
    sbom_manifest = Manifest.objects.get(repository=manifest.repository, subject_digest=manifest.digest)
    assert sbom_manifest.artifact_type == "application/vnd.cyclonedx+json"
    layer = json.loads(bytes(sbom_manifest.content))["layers"][0]
    with storage_module.backend().open(blob_key(layer["digest"])) as blob:
        document = json.loads(blob.read())
    assert "pkg:pypi/requests@2.31.0" in {c.get("purl") for c in document["components"]}


def test_an_alpine_image_whose_openssl_is_the_fixed_version_passes(client, repository):
    images.import_fixtures()
    manifest = images.push_image(client, repository, [images.alpine_base()])

    assert scan(manifest.pk) == ScanStatus.DONE

    assert findings(manifest.pk) == set()
    assert ImagePackage.objects.filter(manifest=manifest, name="libssl3", ecosystem="Alpine:v3.18",
                                       source_name="openssl").exists()
    summary = ScanSummary.objects.get(manifest=manifest)
    assert (summary.status, summary.total, summary.fixable) == ("done", 0, 0)


def test_a_second_image_sharing_the_base_layer_reads_only_its_own_layer(client, repository, index_calls):
    images.import_fixtures()
    base = images.debian_base()
    first = images.push_image(client, repository, [base], tag="base")
    second = images.push_image(client, repository, [base, images.app_layer()], tag="app")

    scan(first.pk)
    assert len(index_calls) == 1
    scan(second.pk)

    assert len(index_calls) == 2                       # the app layer only; the base came from the cache
    assert LayerIndexCache.objects.filter(status="ok").count() == 2
    assert {f[2] for f in findings(second.pk)} == {"DSA-5532-1", "GHSA-j8r2-6x86-q33q", "GHSA-p6mc-m468-83gw"}


def test_a_duplicate_delivery_of_the_task_does_nothing(client, repository, index_calls):
    manifest = images.push_image(client, repository, [images.alpine_base()])
    assert scan(manifest.pk) == ScanStatus.DONE

    assert tasks.scan_manifest(manifest.pk) is None
    assert tasks.scan_manifest(10**9) is None           # a manifest that is gone
    assert len(index_calls) == 1


def test_an_index_scans_its_platforms_and_shows_the_worst_of_them(client, repository):
    images.import_fixtures()
    debian = images.push_image(client, repository, [images.debian_base(), images.app_layer()])
    alpine = images.push_image(client, repository, [images.alpine_base()], architecture="arm64")
    index = images.push_index(repository, [alpine, debian], tag="multi")

    assert scan(index.pk) == ScanStatus.DONE

    statuses = dict(ScanSummary.objects.values_list("manifest_id", "status"))
    assert statuses == {index.pk: "done", debian.pk: "done", alpine.pk: "done"}
    by_id = summaries.summaries([index.pk, debian.pk, alpine.pk])
    assert by_id[index.pk] == by_id[debian.pk]         # the worst platform's counts (lodash-es kept here)
    assert (by_id[index.pk].high, by_id[index.pk].medium, by_id[index.pk].unknown) == (2, 1, 1)
    assert by_id[alpine.pk].critical + by_id[alpine.pk].high + by_id[alpine.pk].unknown == 0
    assert not Finding.objects.filter(manifest=index).exists()


def test_an_index_waits_for_a_platform_another_worker_scans(client, repository):
    alpine = images.push_image(client, repository, [images.alpine_base()])
    index = images.push_index(repository, [alpine])
    services.queue(alpine.pk)
    assert services.claim(alpine.pk)                   # another worker has it

    assert scan(index.pk) is None
    assert ScanSummary.objects.get(manifest=index).status == "scanning"

    ScanSummary.objects.filter(manifest=alpine).update(status="queued")
    tasks.scan_manifest(alpine.pk)                     # that worker finishes: the index follows
    assert ScanSummary.objects.get(manifest=index).status == "done"


@pytest.mark.parametrize("extra", [
    {"artifactType": "application/vnd.example.sbom+json"},
    {"config_type": "application/vnd.cncf.helm.config.v1+json"},
])
def test_an_artifact_that_is_no_image_is_unsupported_with_a_reason(client, repository, extra):
    manifest = images.push_image(client, repository, [images.alpine_base()], **extra)

    assert scan(manifest.pk) == ScanStatus.UNSUPPORTED

    summary = ScanSummary.objects.get(manifest=manifest)
    assert "artifact" in summary.reason or "not an image config" in summary.reason


def test_a_truncated_gzip_layer_fails_with_its_reason_once_and_the_next_scan_is_fine(client, repository,
                                                                                      index_calls):
    images.import_fixtures()
    hostile = images.debian_base()[:-20]            # the gzip trailer and the end of the stream cut off
    broken = images.push_image(client, repository, [hostile], tag="broken")
    same_layer = images.push_image(client, repository, [hostile, images.app_layer()], tag="broken-too")

    assert scan(broken.pk) == ScanStatus.FAILED
    assert scan(same_layer.pk) == ScanStatus.FAILED

    assert len(index_calls) == 1                       # the failure is cached: the layer is not read again
    assert "truncated" in ScanSummary.objects.get(manifest=broken).reason
    assert LayerIndexCache.objects.get(digest=images.sha256(hostile)).status == "failed"
    good = images.push_image(client, repository, [images.debian_base(), images.app_layer()], tag="good")
    assert scan(good.pk) == ScanStatus.DONE
    assert ScanSummary.objects.get(manifest=good).high == 2       # lodash and lodash-es

    assert services.request_rescan(broken.pk)          # a re-scan reads the layer again
    assert tasks.scan_manifest(broken.pk) == ScanStatus.FAILED
    assert len(index_calls) == 4


def test_a_push_queues_its_scan_after_commit_and_a_broker_that_is_down_fails_nothing(
        client, repository, monkeypatch, django_capture_on_commit_callbacks):
    sent: list[int] = []
    monkeypatch.setattr(tasks.scan_manifest, "delay", lambda manifest_id: sent.append(manifest_id))
    with django_capture_on_commit_callbacks(execute=True):
        manifest = images.push_image(client, repository, [images.alpine_base()], tag="v1")
    assert sent == [manifest.pk]
    assert ScanSummary.objects.get(manifest=manifest).status == "queued"

    def down(manifest_id: int) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.scan_manifest, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        other = images.push_image(client, repository, [images.debian_base()], tag="v2")
    assert ScanSummary.objects.get(manifest=other).status == "queued"
    assert receivers.send(other.pk) is False


def test_scans_left_queued_or_scanning_too_long_are_sent_again(client, repository, monkeypatch, settings):
    sent: list[int] = []
    monkeypatch.setattr(tasks.scan_manifest, "delay", lambda manifest_id: sent.append(manifest_id))
    stuck = images.push_image(client, repository, [images.alpine_base()], tag="stuck")
    fresh = images.push_image(client, repository, [images.debian_base()], tag="fresh")
    services.queue(stuck.pk)
    services.queue(fresh.pk)
    services.claim(stuck.pk)
    old = timezone.now() - timedelta(seconds=settings.WHARF_SCAN_STUCK_SECONDS + 60)
    ScanSummary.objects.filter(manifest=stuck).update(updated_at=old)

    assert tasks.requeue_stuck_scans() == 1

    assert sent == [stuck.pk]
    assert ScanSummary.objects.get(manifest=stuck).status == "queued"
    assert tasks.scan_manifest(stuck.pk) == ScanStatus.DONE


def test_the_rescan_command_queues_a_repository_again_and_clears_cached_layer_failures(
        client, repository, monkeypatch):
    from django.core.management import call_command

    sent: list[int] = []
    monkeypatch.setattr(tasks.scan_manifest, "delay", lambda manifest_id: sent.append(manifest_id))
    broken = images.push_image(client, repository, [images.debian_base()[:-20]], tag="broken")
    assert scan(broken.pk) == ScanStatus.FAILED

    call_command("rescan", "--repository", "alice/app", stdout=io.StringIO())

    assert sent == [broken.pk]
    assert ScanSummary.objects.get(manifest=broken).status == "queued"
    assert not LayerIndexCache.objects.exists()


def test_a_cached_index_of_an_older_format_is_read_again(client, repository, index_calls):
    manifest = images.push_image(client, repository, [images.alpine_base()])
    LayerIndexCache.objects.create(digest=images.sha256(images.alpine_base()), status="ok", index={"format": 0})

    assert scan(manifest.pk) == ScanStatus.DONE

    assert len(index_calls) == 1
    assert ImagePackage.objects.filter(manifest=manifest, name="musl").exists()


def test_an_unexpected_error_ends_the_scan_failed_not_stuck(client, repository, monkeypatch):
    manifest = images.push_image(client, repository, [images.alpine_base()])

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    monkeypatch.setattr(layers, "index_layer", broken)
    with pytest.raises(RuntimeError):
        scan(manifest.pk)

    summary = ScanSummary.objects.get(manifest=manifest)
    assert summary.status == "failed" and "a bug" in summary.reason
