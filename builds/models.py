"""Build triggers, builds, their logs and the webhook deliveries that started them.

A build runs in a Celery worker (builds.tasks) and moves through an explicit status machine (BuildStatus,
TRANSITIONS); the phases the page shows (fetching source, building, pushing, scan queued) are recorded with
their timings beside it."""

from __future__ import annotations

from django.conf import settings
from django.db import models

REPOSITORY = "repositories.Repository"


class TriggerKind(models.TextChoices):
    GITHUB = "github", "GitHub push"
    GIT = "git", "Any git repository"


class Trigger(models.Model):
    """What builds a repository on a push: a GitHub repository (hook and deploy key made by Wharf) or any git
    repository by clone URL (the webhook URL and secret shown once to its owner)."""

    repository = models.ForeignKey(REPOSITORY, on_delete=models.CASCADE, related_name="build_triggers")
    kind = models.CharField(max_length=10, choices=TriggerKind.choices)
    clone_url = models.CharField(max_length=500)
    github_repository = models.CharField(max_length=200, blank=True)   # owner/name on GitHub
    github_hook_id = models.BigIntegerField(null=True, blank=True)
    github_deploy_key_id = models.BigIntegerField(null=True, blank=True)
    # The HMAC key of X-Hub-Signature-256; it must be read back to check a signature, so it is kept encrypted
    # (builds.secrets), never as a digest.
    secret_encrypted = models.TextField()
    deploy_key_public = models.TextField(blank=True)        # an OpenSSH public key line
    deploy_key_encrypted = models.TextField(blank=True)     # its private half, encrypted at rest
    dockerfile_path = models.CharField(max_length=300, default="Dockerfile")
    context_dir = models.CharField(max_length=300, blank=True, default="")
    ref_filter = models.CharField(max_length=300, blank=True, default="")   # a regular expression on the ref
    default_branch = models.CharField(max_length=200, default="main")
    tag_templates = models.JSONField(default=list)          # e.g. ["{branch}", "{sha7}", "latest"]
    # [{"name": ..., "value": ..., "secret": bool}]; a secret value is stored encrypted and masked in logs.
    build_args = models.JSONField(default=list)
    platforms = models.JSONField(default=list)              # [] builds for the worker's own platform
    network = models.BooleanField(default=False)            # RUN steps reach the network only when on
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.repository_id}: {self.github_repository or self.clone_url}"

    @property
    def source_name(self) -> str:
        return self.github_repository or self.clone_url


class BuildStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    PUSHING = "pushing"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out", "timed out"


ACTIVE = (BuildStatus.QUEUED, BuildStatus.RUNNING, BuildStatus.PUSHING)
FINAL = (BuildStatus.COMPLETE, BuildStatus.FAILED, BuildStatus.CANCELLED, BuildStatus.TIMED_OUT)

# The status machine: a build only ever moves along these edges (builds.services.transition enforces them in
# the UPDATE's WHERE clause, so two workers or a worker and a cancel cannot both win).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    BuildStatus.QUEUED: (BuildStatus.RUNNING, BuildStatus.CANCELLED, BuildStatus.FAILED),
    BuildStatus.RUNNING: (BuildStatus.PUSHING, BuildStatus.FAILED, BuildStatus.CANCELLED, BuildStatus.TIMED_OUT,
                          BuildStatus.QUEUED),   # back to queued: a worker died and the build is retried
    BuildStatus.PUSHING: (BuildStatus.COMPLETE, BuildStatus.FAILED, BuildStatus.CANCELLED, BuildStatus.TIMED_OUT,
                          BuildStatus.QUEUED),
}


class Phase(models.TextChoices):
    WAITING = "waiting", "waiting for a worker"
    FETCHING = "fetching", "fetching source"
    BUILDING = "building"
    PUSHING = "pushing"
    SCAN_QUEUED = "scan_queued", "scanning queued"


class SourceKind(models.TextChoices):
    GIT = "git"
    DOCKERFILE = "dockerfile"
    ARCHIVE = "archive"


class Build(models.Model):
    repository = models.ForeignKey(REPOSITORY, on_delete=models.CASCADE, related_name="builds")
    trigger = models.ForeignKey(Trigger, null=True, blank=True, on_delete=models.SET_NULL, related_name="builds")
    status = models.CharField(max_length=10, choices=BuildStatus.choices, default=BuildStatus.QUEUED)
    phase = models.CharField(max_length=12, choices=Phase.choices, default=Phase.WAITING)
    # [{"phase": "fetching", "started_at": iso, "finished_at": iso | None}], in order
    phases = models.JSONField(default=list)
    source_kind = models.CharField(max_length=10, choices=SourceKind.choices)
    source_url = models.CharField(max_length=500, blank=True)   # the clone URL, without credentials
    context_key = models.CharField(max_length=200, blank=True)  # an uploaded Dockerfile or archive in storage
    context_name = models.CharField(max_length=255, blank=True)  # its file name as uploaded
    dockerfile_path = models.CharField(max_length=300, default="Dockerfile")
    context_dir = models.CharField(max_length=300, blank=True, default="")
    # Who or what started it: a user, or a trigger's delivery with the commit it names.
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    started_by_name = models.CharField(max_length=200, blank=True)   # a user's or robot's name, as shown
    # The registry credential the build pushes with (portal.accounts.credentials.credential_of the starter's,
    # or the trigger owner's), checked again by the registry on every token: a starter disabled or a robot
    # deleted mid-build stops its push. Never shown.
    credential = models.CharField(max_length=200, blank=True)
    commit_sha = models.CharField(max_length=64, blank=True)
    ref = models.CharField(max_length=300, blank=True)
    commit_message = models.TextField(blank=True)
    commit_author = models.CharField(max_length=200, blank=True)
    delivery_id = models.CharField(max_length=100, blank=True)
    tags = models.JSONField(default=list)          # the tags it will push, templates applied
    build_args = models.JSONField(default=list)    # as Trigger.build_args
    platforms = models.JSONField(default=list)
    network = models.BooleanField(default=False)
    time_limit = models.PositiveIntegerField(default=3600)   # seconds, from WHARF_BUILD_TIME_LIMIT when queued
    pushed = models.JSONField(default=list)        # [{"tag": ..., "digest": ...}]
    manifest_digest = models.CharField(max_length=200, blank=True)
    commands = models.JSONField(default=list)      # the podman command lines it ran (argv lists), secrets masked
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)     # host:pid of the worker that holds it
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    log_lines = models.PositiveIntegerField(default=0)
    log_bytes = models.PositiveBigIntegerField(default=0)
    log_truncated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["repository", "-id"], name="build_repository_recent"),
                   models.Index(fields=["status", "heartbeat_at"], name="build_status_heartbeat")]
        constraints = [
            # One build per (trigger, commit): a redelivered or repeated push of a commit builds nothing new.
            models.UniqueConstraint(fields=["trigger", "commit_sha"], name="build_trigger_commit_once",
                                    condition=models.Q(trigger__isnull=False) & ~models.Q(commit_sha="")
                                    & ~models.Q(delivery_id="")),
            # Manual builds (no delivery) may build a commit again: "run again".
        ]

    def __str__(self) -> str:
        return f"build {self.pk} of {self.repository_id}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at
        if end is None:
            from django.utils import timezone

            end = timezone.now()
        return (end - self.started_at).total_seconds()


class BuildLogChunk(models.Model):
    """Consecutive lines of a build's log, written as the worker reads them (a few a second), so a page that
    polls with an offset finds every line within about a second of podman printing it."""

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="log_chunks")
    first_line = models.PositiveIntegerField()
    line_count = models.PositiveIntegerField()
    text = models.TextField()   # the lines, each ending in "\n", secrets already masked

    class Meta:
        ordering = ["build", "first_line"]
        constraints = [models.UniqueConstraint(fields=["build", "first_line"], name="build_log_chunk_once")]


class Delivery(models.Model):
    """One webhook delivery to a trigger, with what Wharf made of it (GitHub shows the answer; so does Wharf)."""

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=100, blank=True)   # X-GitHub-Delivery
    event = models.CharField(max_length=50, blank=True)
    ref = models.CharField(max_length=300, blank=True)
    commit_sha = models.CharField(max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=300)
    build = models.ForeignKey(Build, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        # Not unique: a delivery answered 503 (broker down) is redelivered under the same id and must build then.
        indexes = [models.Index(fields=["trigger", "delivery_id"], name="delivery_lookup")]
