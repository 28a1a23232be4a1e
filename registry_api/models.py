"""The registry's metadata. Bytes live in storage; these rows say which repository may see which bytes.

A repository is the portal's row (`namespace/name`, visibility); the registry's tables reference it by key
(REPOSITORY below), the one table the two share, and import nothing of the portal for it."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.db import ByteOrderCharField
from registry_api.storage.base import upload_key

REPOSITORY = "repositories.Repository"


class Blob(models.Model):
    """Verified, content-addressed bytes in storage; shared by every repository that links them."""

    digest = models.CharField(max_length=200, unique=True)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.digest


class BlobLink(models.Model):
    """A repository's claim on a blob: without it the blob is BLOB_UNKNOWN there, whatever storage holds."""

    repository = models.ForeignKey(REPOSITORY, on_delete=models.CASCADE, related_name="blob_links")
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "blob"], name="unique_blob_link")]


class Manifest(models.Model):
    """A manifest or index exactly as pushed: its digest is the digest of `content`."""

    repository = models.ForeignKey(REPOSITORY, on_delete=models.CASCADE, related_name="manifests")
    digest = models.CharField(max_length=200)
    media_type = models.CharField(max_length=255)
    artifact_type = models.CharField(max_length=255, blank=True)
    subject_digest = models.CharField(max_length=200, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    content = models.BinaryField()
    size = models.BigIntegerField()
    # What pulling the image moves: config and layers as pushed (compressed); 0 for an index, whose
    # platforms each have their own.
    image_size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    blobs = models.ManyToManyField(Blob, related_name="manifests", blank=True)
    children = models.ManyToManyField("self", symmetrical=False, related_name="parents", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "digest"], name="unique_manifest")]
        indexes = [models.Index(fields=["repository", "subject_digest"], name="manifest_subject")]

    def __str__(self) -> str:
        return self.digest


class TagQuerySet(models.QuerySet["Tag"]):
    def live(self, now: datetime | None = None) -> TagQuerySet:
        """Tags whose expiry has not passed. An expired tag is gone for every reader at once, whether or not
        the periodic job (which records its deletion in the history) has removed its row yet."""
        return self.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now or timezone.now()))

    def expired(self, now: datetime | None = None) -> TagQuerySet:
        """The tags live() hides: with the repository, answered from tag_expired_here (only tags that have
        an expiry, and the job deletes them within a minute of it: a handful at most)."""
        return self.filter(expires_at__lte=now or timezone.now())


class Tag(models.Model):
    repository = models.ForeignKey(REPOSITORY, on_delete=models.CASCADE, related_name="tags")
    name = ByteOrderCharField(max_length=128)
    manifest = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="tags")
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(null=True, blank=True)   # a periodic task deletes the tag then

    objects = TagQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "name"], name="unique_tag")]
        indexes = [
            # With the name, the index alone orders the tags page and skips to a deep page (OFFSET) without
            # reading the table for each tag it passes (the last of 2,000 pages: ~200 ms -> ~5 ms on SQLite).
            # With the expiry, it also answers live()'s filter itself, so hiding expired tags costs no table
            # read per tag either (the last page's count and ids at 100,000 tags: 105 -> 13 ms on SQLite).
            models.Index(fields=["repository", "-updated_at", "name", "expires_at"], name="tag_recent"),
            models.Index(fields=["expires_at"], name="tag_expiry", condition=models.Q(expires_at__isnull=False)),
            # "Any expired tag in this repository?" in a few index entries, not a scan of its tags: the tags
            # page counts and pages without the expiry test when the answer is no (the common case).
            models.Index(fields=["repository", "expires_at"], name="tag_expired_here",
                         condition=models.Q(expires_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.name


class TagEvent(models.Model):
    """One move of a tag (pushed, moved or deleted): the tag history that restores come from."""

    class Kind(models.TextChoices):
        PUSHED = "pushed"
        MOVED = "moved"
        DELETED = "deleted"

    repository = models.ForeignKey(REPOSITORY, on_delete=models.CASCADE, related_name="tag_events")
    tag = models.CharField(max_length=128)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    digest = models.CharField(max_length=200, blank=True)
    previous_digest = models.CharField(max_length=200, blank=True)
    # The tag's expiry when this event moved it off previous_digest or deleted it: a restore puts it back.
    previous_expires_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Where the pushed image came from, when Wharf built it: {"build": id, "trigger": id, "commit": sha,
    # "source": url}. Set by builds after its push; NULL for images pushed by clients (the registry's own raw
    # INSERTs leave it out).
    provenance = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["repository", "tag", "-created_at"], name="tag_event_lookup"),
                   models.Index(fields=["repository", "-created_at"], name="tag_event_recent")]


class Upload(models.Model):
    """A blob upload session. `size` is the committed length: bytes past it in storage are debris."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    repository = models.ForeignKey(REPOSITORY, on_delete=models.CASCADE, related_name="uploads")
    size = models.BigIntegerField(default=0)
    # Who opened it ("user:7", "robot:3"): WHARF_MAX_OPEN_UPLOADS counts per owner.
    owner = models.CharField(max_length=64, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    @property
    def storage_key(self) -> str:
        return upload_key(self.id)


class GcRun(models.Model):
    """One garbage-collection run (registry_api/services/gc.py): what it removed, or would have (dry run)."""

    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    manifests_removed = models.IntegerField(default=0)
    links_removed = models.IntegerField(default=0)
    blobs_removed = models.IntegerField(default=0)
    objects_removed = models.IntegerField(default=0)   # storage objects that had no row (debris)
    bytes_freed = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)

    @property
    def duration_seconds(self) -> float | None:
        return None if self.finished_at is None else (self.finished_at - self.started_at).total_seconds()


class GcOrphan(models.Model):
    """A storage object that had no row when a run saw it: removed by a run that finds it still orphaned a
    grace period later (the storage protocol has no modification times, so the first sighting is the age)."""

    key = models.CharField(max_length=400, unique=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
