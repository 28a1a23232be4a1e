"""What the scanner found, per manifest: the summary the tags page shows (the scanner itself comes later)."""

from __future__ import annotations

from django.db import models

from registry_api.models import Manifest


class ScanStatus(models.TextChoices):
    QUEUED = "queued"
    SCANNING = "scanning"
    DONE = "done"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"   # e.g. an artifact that is no image


class ScanSummary(models.Model):
    """One row per scanned manifest; a manifest without one is "not scanned"."""

    manifest = models.OneToOneField(Manifest, on_delete=models.CASCADE, related_name="scan_summary")
    status = models.CharField(max_length=12, choices=ScanStatus.choices, default=ScanStatus.QUEUED)
    critical = models.PositiveIntegerField(default=0)
    high = models.PositiveIntegerField(default=0)
    medium = models.PositiveIntegerField(default=0)
    low = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    @property
    def total(self) -> int:
        return self.critical + self.high + self.medium + self.low + self.unknown
