"""The events a notification can be about, and their JSON: a stable schema (`schema_version`), the same for
every method (a webhook gets it as its body; Slack, e-mail and the inbox render it with `describe`).

Every payload has `schema_version`, `event`, `occurred_at` (RFC 3339, UTC), `test` (true for "send test
notification"), `repository` {full_name, url} and `url` (the page the event is about), plus one object named
after what the event is about: `push`, `build`, `vulnerability` (with `image`) or `tag`. Fields are only ever
added within a schema version; a removal or a change of meaning is a new version."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.conf import settings

SCHEMA_VERSION = 1

REPO_PUSH = "repo_push"
BUILD_QUEUED, BUILD_STARTED, BUILD_SUCCEEDED, BUILD_FAILED, BUILD_CANCELLED = (
    "build_queued", "build_started", "build_succeeded", "build_failed", "build_cancelled")
BUILD_EVENTS = (BUILD_QUEUED, BUILD_STARTED, BUILD_SUCCEEDED, BUILD_FAILED, BUILD_CANCELLED)
VULNERABILITY_FOUND = "vulnerability_found"
TAG_EXPIRING = "tag_expiring"
EVENTS = (REPO_PUSH, *BUILD_EVENTS, VULNERABILITY_FOUND, TAG_EXPIRING)

SEVERITIES = ("unknown", "negligible", "low", "medium", "high", "critical")   # scanning.severity's order


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def repository_url(full_name: str) -> str:
    return f"{settings.WHARF_SITE_URL}/repository/{full_name}/"


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event carries; subclasses add their object (`about`) and the page it links to."""

    name: ClassVar[str]
    repository: str                     # full name, e.g. "acme/app"
    occurred_at: datetime

    def about(self) -> dict[str, Any]:
        raise NotImplementedError

    def path(self) -> str:
        return ""

    def event_name(self) -> str:
        return self.name

    def to_payload(self, test: bool = False) -> dict[str, Any]:
        base = repository_url(self.repository)
        return {"schema_version": SCHEMA_VERSION, "event": self.event_name(), "occurred_at": rfc3339(self.occurred_at),
                "test": test, "repository": {"full_name": self.repository, "url": base},
                "url": base + self.path(), **self.about()}


@dataclass(frozen=True, kw_only=True)
class RepoPush(Event):
    """A tag pushed (by a client, or by a build's push): `push` {tags, digest, media_type, pusher, client}."""

    name: ClassVar[str] = REPO_PUSH
    tags: list[str]
    digest: str
    media_type: str = ""
    pusher: str = ""      # the user's or robot's name; "" for an unknown one
    client: str = ""      # the client's User-Agent, as it sent it

    def about(self) -> dict[str, Any]:
        return {"push": {"tags": list(self.tags), "digest": self.digest, "media_type": self.media_type,
                         "pusher": self.pusher, "client": self.client}}

    def path(self) -> str:
        return f"manifest/{self.digest}/"


@dataclass(frozen=True, kw_only=True)
class BuildEvent(Event):
    """A build queued, started, succeeded, failed or cancelled: `build` {id, status, trigger_id, ref, branch,
    commit_sha, tags, started_by, error, queued_at, started_at, finished_at}."""

    name: ClassVar[str] = "build"
    event: str                          # one of BUILD_EVENTS
    build_id: int
    status: str
    trigger_id: int | None = None
    ref: str = ""
    commit_sha: str = ""
    tags: list[str] = field(default_factory=list)
    started_by: str = ""
    error: str = ""
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def event_name(self) -> str:
        return self.event

    @property
    def branch(self) -> str:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else ""

    def about(self) -> dict[str, Any]:
        return {"build": {"id": self.build_id, "status": self.status, "trigger_id": self.trigger_id,
                          "ref": self.ref, "branch": self.branch, "commit_sha": self.commit_sha,
                          "tags": list(self.tags), "started_by": self.started_by, "error": self.error,
                          "queued_at": rfc3339(self.queued_at), "started_at": rfc3339(self.started_at),
                          "finished_at": rfc3339(self.finished_at)}}

    def path(self) -> str:
        return f"builds/{self.build_id}/"


@dataclass(frozen=True, kw_only=True)
class VulnerabilityFound(Event):
    """A new advisory matched an image scanned before: `vulnerability` {advisory, id, package, version,
    fixed_version, severity} and `image` {digest}."""

    name: ClassVar[str] = VULNERABILITY_FOUND
    advisory: str           # the OSV id
    merge_key: str          # the CVE, usually: what the same flaw is called across advisories
    package: str
    version: str
    severity: str           # one of SEVERITIES
    fixed_version: str = ""
    digest: str = ""

    def about(self) -> dict[str, Any]:
        return {"vulnerability": {"advisory": self.advisory, "id": self.merge_key, "package": self.package,
                                  "version": self.version, "fixed_version": self.fixed_version,
                                  "severity": self.severity},
                "image": {"digest": self.digest}}

    def path(self) -> str:
        return f"manifest/{self.digest}/" if self.digest else ""


@dataclass(frozen=True, kw_only=True)
class TagExpiring(Event):
    """A tag whose expiry is near (WHARF_NOTIFY_EXPIRY_DAYS): `tag` {name, digest, expires_at}."""

    name: ClassVar[str] = TAG_EXPIRING
    tag: str
    digest: str
    expires_at: datetime

    def about(self) -> dict[str, Any]:
        return {"tag": {"name": self.tag, "digest": self.digest, "expires_at": rfc3339(self.expires_at)}}

    def path(self) -> str:
        return "tags/"


# --- Reading a payload back (Slack, e-mail and the inbox render what the webhook gets) ---------------------------

def describe(payload: dict[str, Any]) -> tuple[str, str]:
    """(a one-line title, a few lines of text) for people, from a stored payload."""
    repo, event = payload["repository"]["full_name"], payload["event"]
    prefix = "[test] " if payload.get("test") else ""
    if event == REPO_PUSH:
        push = payload["push"]
        by = f" by {push['pusher']}" if push.get("pusher") else ""
        title = f"{repo}: pushed {', '.join(push['tags'])}{by}"
        text = f"Digest {push['digest']}" + (f"\nClient {push['client']}" if push.get("client") else "")
    elif event in BUILD_EVENTS:
        build = payload["build"]
        title = f"{repo}: build {build['id']} {event.removeprefix('build_')}"
        text = "\n".join(line for line in (
            f"Branch {build['branch']}" if build.get("branch") else "",
            f"Commit {build['commit_sha'][:12]}" if build.get("commit_sha") else "",
            f"Tags {', '.join(build['tags'])}" if build.get("tags") else "",
            build.get("error") or "") if line)
    elif event == VULNERABILITY_FOUND:
        vuln = payload["vulnerability"]
        title = f"{repo}: {vuln['severity']} {vuln['id'] or vuln['advisory']} in {vuln['package']} {vuln['version']}"
        fix = f"Fixed in {vuln['fixed_version']}" if vuln.get("fixed_version") else "No fix known yet"
        text = f"{fix}\nImage {payload['image']['digest']}"
    elif event == TAG_EXPIRING:
        tag = payload["tag"]
        title = f"{repo}: tag {tag['name']} expires at {tag['expires_at']}"
        text = f"Digest {tag['digest']}"
    else:
        title, text = f"{repo}: {event}", ""
    return prefix + title, text


def example(event: str, repository: str, now: datetime | None = None) -> Event:
    """A made-up event of this kind on this repository: what "send test notification" sends, and the README's
    examples."""
    now = now or datetime.now(UTC)
    digest = "sha256:" + "3f" * 32
    if event == REPO_PUSH:
        return RepoPush(repository=repository, occurred_at=now, tags=["latest"], digest=digest,
                        media_type="application/vnd.oci.image.manifest.v1+json", pusher="alice",
                        client="podman/5.4.0")
    if event in BUILD_EVENTS:
        status = {BUILD_QUEUED: "queued", BUILD_STARTED: "running", BUILD_SUCCEEDED: "complete",
                  BUILD_FAILED: "failed", BUILD_CANCELLED: "cancelled"}[event]
        return BuildEvent(repository=repository, occurred_at=now, event=event, build_id=1, status=status,
                          trigger_id=1, ref="refs/heads/main", commit_sha="9b2c" * 10, tags=["main", "latest"],
                          started_by="alice", queued_at=now,
                          started_at=None if event == BUILD_QUEUED else now,
                          finished_at=now if event in (BUILD_SUCCEEDED, BUILD_FAILED, BUILD_CANCELLED) else None,
                          error="the build failed at step 3" if event == BUILD_FAILED else "")
    if event == VULNERABILITY_FOUND:
        return VulnerabilityFound(repository=repository, occurred_at=now, advisory="DEBIAN-CVE-2024-0001",
                                  merge_key="CVE-2024-0001", package="openssl", version="3.0.11-1",
                                  severity="high", fixed_version="3.0.13-1", digest=digest)
    if event == TAG_EXPIRING:
        return TagExpiring(repository=repository, occurred_at=now, tag="pr-42", digest=digest, expires_at=now)
    raise ValueError(f"unknown event {event!r}")
