"""What the scanner keeps: per-layer indexes (cached by digest), each image's packages, the advisories
imported from OSV, the findings that join the two, and the per-manifest summary the tags page shows.

Foreign keys point down at the registry's Manifest (scanning sits above registry_api); nothing here names
the portal. Deleting a manifest deletes its packages, findings and summary with it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from registry_api.models import Manifest


class ScanStatus(models.TextChoices):
    QUEUED = "queued"
    SCANNING = "scanning"
    DONE = "done"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"   # e.g. an artifact that is no image


FINAL_STATUSES = (ScanStatus.DONE, ScanStatus.FAILED, ScanStatus.UNSUPPORTED)


class ScanSummary(models.Model):
    """One row per scanned manifest; a manifest without one is "not scanned"."""

    manifest = models.OneToOneField(Manifest, on_delete=models.CASCADE, related_name="scan_summary")
    status = models.CharField(max_length=12, choices=ScanStatus.choices, default=ScanStatus.QUEUED)
    critical = models.PositiveIntegerField(default=0)
    high = models.PositiveIntegerField(default=0)
    medium = models.PositiveIntegerField(default=0)
    low = models.PositiveIntegerField(default=0)
    negligible = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    fixable = models.PositiveIntegerField(default=0)      # findings that name a fixed version
    reason = models.TextField(blank=True)                 # why failed or unsupported
    scanned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The periodic job looks for rows left queued or scanning by a lost message or worker.
        indexes = [models.Index(fields=["status", "updated_at"], name="scan_summary_status")]

    @property
    def total(self) -> int:
        return self.critical + self.high + self.medium + self.low + self.negligible + self.unknown


class LayerIndexCache(models.Model):
    """A layer's index (scanning.layers.LayerIndex.to_json()), read once per digest whatever the number of
    images sharing it. A failed row keeps the reason, so a hostile layer is not read again on every push;
    a re-scan request clears it."""

    class Status(models.TextChoices):
        OK = "ok"
        FAILED = "failed"

    digest = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices)
    index = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)


class ImagePackage(models.Model):
    """One package of an image's inventory, in the OSV ecosystem it is matched in ("" when the image's
    distribution has none we know: listed, never matched)."""

    manifest = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="scan_packages")
    kind = models.CharField(max_length=8)                    # dpkg | apk | rpm | python | npm
    ecosystem = models.CharField(max_length=100, blank=True)  # "Debian:12", "Alpine:v3.18", "PyPI", "npm"
    base_ecosystem = models.CharField(max_length=50, blank=True)   # "Debian", "Alpine", "PyPI", "npm"
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=255)
    source_name = models.CharField(max_length=255, blank=True)
    source_version = models.CharField(max_length=255, blank=True)
    layer_digest = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=1024, blank=True)

    class Meta:
        # Re-matching after an import asks "which manifests hold (Debian, openssl)?" by binary or source name.
        indexes = [models.Index(fields=["base_ecosystem", "name"], name="image_package_name"),
                   models.Index(fields=["base_ecosystem", "source_name"], name="image_package_source")]


class Advisory(models.Model):
    """One OSV record, as scanning.osv.read() gives it."""

    osv_id = models.CharField(max_length=255, unique=True)
    merge_key = models.CharField(max_length=255, db_index=True)   # scanning.osv.merge_key: the CVE, usually
    modified = models.DateTimeField()
    published = models.DateTimeField(null=True, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    summary = models.TextField(blank=True)
    details = models.TextField(blank=True)
    severity = models.PositiveSmallIntegerField(default=0)   # scanning.severity.Severity
    vector = models.CharField(max_length=255, blank=True)
    references = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.osv_id


class AffectedPackage(models.Model):
    """One `affected[]` entry of an advisory: a package of one ecosystem and the versions it covers."""

    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="affected")
    ecosystem = models.CharField(max_length=100)          # as OSV writes it: "Debian:12", "Ubuntu:22.04:LTS"
    base_ecosystem = models.CharField(max_length=50)      # before the first ":"
    name = models.CharField(max_length=255)               # PyPI names in PEP 503 form, as images list them
    ranges = models.JSONField(default=list, blank=True)
    versions = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["base_ecosystem", "name"], name="affected_package_name")]


class Finding(models.Model):
    """A package of a manifest affected by a vulnerability. Advisories naming one CVE (GHSA, DSA, the
    CVE itself) merge into one finding per package under their merge key, with the highest severity and the
    lowest fixed version among them; `advisory` is the one that gave the severity."""

    manifest = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="scan_findings")
    package = models.ForeignKey(ImagePackage, on_delete=models.CASCADE, related_name="findings")
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="findings")
    merge_key = models.CharField(max_length=255)
    severity = models.PositiveSmallIntegerField(default=0)
    fixed_version = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["manifest", "package", "merge_key"], name="unique_finding")]
        indexes = [models.Index(fields=["manifest", "-severity"], name="finding_by_severity")]


class ImportRun(models.Model):
    """One import of OSV records: the store's freshness (last import, records per ecosystem) comes from here."""

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=1024, blank=True)
    records = models.PositiveIntegerField(default=0)     # well-formed records read
    upserted = models.PositiveIntegerField(default=0)    # new or newer than the stored one
    removed = models.PositiveIntegerField(default=0)     # withdrawn records deleted
    errors = models.PositiveIntegerField(default=0)      # malformed records skipped
    rematched = models.PositiveIntegerField(default=0)   # manifests matched again
    ecosystems = models.JSONField(default=dict, blank=True)   # {ecosystem: records}
    error = models.TextField(blank=True)                 # why the import stopped, if it did
