"""The rules for builds and triggers: queueing (with the per-namespace cap), the status machine, cancelling,
running again, and triggers' life (GitHub hook and deploy key made and removed with them).

Views check who may do what (portal.access) before they call in here, as the other services' callers do."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.db import IntegrityError
from django.db.models import F
from django.utils import timezone

from builds import secrets, signals, templates
from builds.models import (
    ACTIVE,
    TRANSITIONS,
    Build,
    BuildStatus,
    SourceKind,
    Trigger,
)
from portal import audit
from portal.access import Principal
from portal.accounts import credentials
from portal.accounts.models import User
from portal.db import write_transaction
from portal.errors import Conflict, Invalid, ServiceError
from portal.repositories.models import Repository

log = logging.getLogger(__name__)

PLATFORM_RE = re.compile(r"linux/(amd64|arm64|arm/v7|arm/v6|386|ppc64le|s390x|riscv64)")
ARG_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_BUILD_ARGS = 50


class QueueFull(ServiceError):
    status = 429
    code = "too_many_requests"

    def __init__(self, limit: int) -> None:
        super().__init__(f"This namespace already has {limit} builds queued; wait for some to finish.")
        self.retry_after = 30


class BrokerUnavailable(ServiceError):
    status = 503
    code = "unavailable"

    def __init__(self) -> None:
        super().__init__("The build queue is unreachable; nothing was queued. Try again shortly.")


# --- Input ----------------------------------------------------------------------------------------------------

def validate_platforms(platforms: Any) -> list[str]:
    if platforms in (None, "", []):
        return []
    if isinstance(platforms, str):
        platforms = [p.strip() for p in platforms.split(",") if p.strip()]
    if not isinstance(platforms, list) or not all(isinstance(p, str) for p in platforms):
        raise Invalid("Platforms are a list such as linux/amd64, linux/arm64.", "platforms")
    for platform in platforms:
        if PLATFORM_RE.fullmatch(platform) is None:
            raise Invalid(f"Unknown platform '{platform}'; use e.g. linux/amd64 or linux/arm64.", "platforms")
    return list(dict.fromkeys(platforms))


def validate_build_args(build_args: Any, previous: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """[{"name", "value", "secret"}] with secret values encrypted. Accepts that list (a secret whose value is
    left empty keeps its previous value) or a plain {name: value} mapping (nothing secret)."""
    if build_args in (None, "", {}, []):
        return []
    if isinstance(build_args, dict):
        build_args = [{"name": k, "value": v, "secret": False} for k, v in build_args.items()]
    if not isinstance(build_args, list) or len(build_args) > MAX_BUILD_ARGS:
        raise Invalid(f"Build arguments are a JSON object of names and values (at most {MAX_BUILD_ARGS}).",
                      "build_args")
    kept = {arg["name"]: arg for arg in previous or []}
    cleaned: list[dict[str, Any]] = []
    for arg in build_args:
        if not isinstance(arg, dict) or not isinstance(arg.get("name"), str) \
                or not isinstance(arg.get("value", ""), str | int | float | bool):
            raise Invalid("Each build argument has a name and a text value.", "build_args")
        name, value, secret = arg["name"], str(arg.get("value", "")), bool(arg.get("secret"))
        if ARG_NAME_RE.fullmatch(name) is None:
            raise Invalid(f"'{name}' is not a build argument name.", "build_args")
        if len(value) > 4096:
            raise Invalid(f"The value of {name} is longer than 4096 characters.", "build_args")
        if secret:
            if not value and name in kept and kept[name].get("secret"):
                cleaned.append(kept[name])
                continue
            value = secrets.encrypt(value)
        cleaned.append({"name": name, "value": value, "secret": secret})
    return cleaned


def plain_build_args(build_args: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    """(name, value, secret) with secret values decrypted: what the worker passes to podman."""
    return [(a["name"], secrets.decrypt(a["value"]) if a.get("secret") else a["value"], bool(a.get("secret")))
            for a in build_args]


def shown_build_args(build_args: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Build arguments as pages and the API show them: a secret's value never leaves the server."""
    return [{"name": a["name"], "value": "" if a.get("secret") else a["value"], "secret": bool(a.get("secret"))}
            for a in build_args]


def validate_path(value: Any, field: str, default: str = "") -> str:
    """A path inside the source: relative, no `..`, no leading slash."""
    value = str(value if value is not None else default).strip().strip("/") or default
    if any(part == ".." for part in value.split("/")) or "\\" in value or "\x00" in value or len(value) > 300:
        raise Invalid(f"'{value}' must be a path inside the source, without '..'.", field)
    return value


def validate_tags(tags: Any) -> list[str]:
    if tags in (None, "", []):
        return []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise Invalid("Tags are a comma-separated list.", "tags")
    for tag in tags:
        if templates.TAG_RE.fullmatch(tag) is None:
            raise Invalid(f"'{tag}' is not a valid tag.", "tags")
    if len(tags) > 20:
        raise Invalid("At most 20 tags.", "tags")
    return list(dict.fromkeys(tags))


# --- Queueing ---------------------------------------------------------------------------------------------------

@dataclass
class Source:
    """What a build builds: a git commit (of a trigger), or an upload (a Dockerfile or a context archive)."""

    kind: str                               # a SourceKind value
    trigger: Trigger | None = None
    commit_sha: str = ""
    ref: str = ""
    commit_message: str = ""
    commit_author: str = ""
    delivery_id: str = ""
    upload: BinaryIO | None = None
    upload_name: str = ""


def queue_build(repository: Repository, principal: Principal | None, source: Source, *,
                tags: list[str] | None = None, build_args: Any = None, platforms: Any = None,
                dockerfile_path: str | None = None, context_dir: str | None = None,
                client_ip: str | None = None, build_args_stored: bool = False) -> Build:
    """Record a build and send it to the `builds` queue once the row is committed.

    A trigger's build takes the trigger's settings and pushes with the credential of the trigger's creator;
    a manual one pushes with its starter's. QueueFull past WHARF_BUILD_QUEUE_LIMIT queued builds in the
    namespace; Conflict for a (trigger, commit) that a delivery already built; BrokerUnavailable (and no
    build) when the queue cannot take it."""
    trigger = source.trigger
    if principal is not None and principal.kind == "user" and principal.user_id is not None:
        # A session's principal carries no password generation: take the user's, so that a password change
        # stops the build's push as it stops the user's other registry tokens.
        user = User.objects.filter(pk=principal.user_id).first()
        principal = credentials.user_principal(user) if user is not None else principal
    if build_args_stored:   # "run again": the build's own list, secrets still encrypted
        build_args, stored_args = None, build_args
    else:
        stored_args = None
    if trigger is not None:
        pusher = principal if principal is not None and principal.is_authenticated else _owner(trigger)
        build_args_list = stored_args if stored_args is not None else (
            trigger.build_args if build_args is None else validate_build_args(build_args))
        platform_list = trigger.platforms if platforms is None else validate_platforms(platforms)
        now = timezone.now()
        tag_list = validate_tags(tags) if tags else templates.render(
            trigger.tag_templates, ref=source.ref, sha=source.commit_sha, default_branch=trigger.default_branch,
            now=now)
        fields: dict[str, Any] = {
            "source_url": trigger.clone_url, "network": trigger.network,
            "dockerfile_path": validate_path(dockerfile_path, "dockerfile_path", trigger.dockerfile_path),
            "context_dir": validate_path(context_dir, "context_dir", trigger.context_dir)}
    else:
        if principal is None or not principal.is_authenticated:
            raise Invalid("A build without a trigger needs someone to start it.")
        pusher = principal
        build_args_list = stored_args if stored_args is not None else validate_build_args(build_args)
        platform_list = validate_platforms(platforms)
        tag_list = validate_tags(tags) or ["latest"]
        fields = {"dockerfile_path": validate_path(dockerfile_path, "dockerfile_path", "Dockerfile"),
                  "context_dir": validate_path(context_dir, "context_dir", "")}
    if not tag_list:
        raise Invalid("No tag template makes a tag for this ref; nothing would be pushed.", "tags")
    build = Build(
        repository=repository, trigger=trigger, source_kind=source.kind,
        started_by_id=principal.user_id if principal is not None and principal.is_person else None,
        started_by_name=principal.username if principal is not None and principal.is_authenticated else "",
        credential=credentials.credential_of(pusher) if pusher is not None else "",
        commit_sha=source.commit_sha, ref=source.ref, commit_message=source.commit_message[:10000],
        commit_author=source.commit_author[:200], delivery_id=source.delivery_id[:100], tags=tag_list,
        build_args=build_args_list, platforms=platform_list, time_limit=settings.WHARF_BUILD_TIME_LIMIT,
        phases=[], **fields)
    limit = settings.WHARF_BUILD_QUEUE_LIMIT
    try:
        with write_transaction():
            queued = Build.objects.filter(repository__namespace_id=repository.namespace_id,
                                          status=BuildStatus.QUEUED).count()
            if queued >= limit:
                raise QueueFull(limit)
            build.save()
            if source.upload is not None:
                build.context_key = _store_upload(build, source.upload)
                build.context_name = source.upload_name[:255]
                build.save(update_fields=["context_key", "context_name"])
    except IntegrityError:
        raise Conflict("This commit was built for this trigger already.") from None
    if not send(build):
        _forget(build)
        raise BrokerUnavailable()
    signals.send(build, signals.QUEUED)
    audit.record("build_queue", principal if principal is not None else None, client_ip=client_ip,
                 repository=repository, target=f"build {build.pk}", trigger=trigger.pk if trigger else None,
                 commit=source.commit_sha or None, source=source.kind)
    return build


def _owner(trigger: Trigger) -> Principal | None:
    """The trigger creator's principal: the webhook's builds push as them (None when they are gone; the
    build then fails with that reason)."""
    user = User.objects.filter(pk=trigger.created_by_id, is_active=True).first() if trigger.created_by_id else None
    return credentials.user_principal(user) if user is not None else None


def _store_upload(build: Build, upload: BinaryIO) -> str:
    """Copy an uploaded Dockerfile or archive into storage (every worker host reads it from there), up to
    WHARF_BUILD_CONTEXT_LIMIT bytes."""
    from registry_api import storage

    key = f"builds/{build.pk}/context"
    limit = settings.WHARF_BUILD_CONTEXT_LIMIT
    writer = storage.backend().writer(key)
    written = 0
    try:
        while chunk := upload.read(1024 * 1024):
            written += len(chunk)
            if written > limit:
                raise Invalid(f"The upload is larger than {limit // (1024 * 1024)} MiB.", "context")
            writer.write(chunk)
        writer.flush()
    except BaseException:
        writer.close()
        storage.backend().delete(key)
        raise
    writer.close()
    return key


def send(build: Build) -> bool:
    """Put the build on the `builds` queue; False when the broker cannot take it."""
    from celery import current_app

    try:   # by name: builds.tasks imports this module
        current_app.send_task("builds.tasks.run_build", args=[build.pk], queue="builds", retry=False,
                              time_limit=build.time_limit + 900)
    except Exception as exc:   # noqa: BLE001 (kombu raises several kinds for an unreachable broker)
        log.error("could not queue build %s: %r", build.pk, exc)
        return False
    return True


def _forget(build: Build) -> None:
    """A build the queue refused: gone, with its upload, so a redelivered webhook builds it then."""
    if build.context_key:
        from registry_api import storage

        storage.backend().delete(build.context_key)
    Build.objects.filter(pk=build.pk).delete()


# --- The status machine -------------------------------------------------------------------------------------------

def transition(build_id: int, to: str, **fields: Any) -> bool:
    """Move a build to `to` if its current status allows it (one UPDATE, so of two racers one wins)."""
    sources = [status for status, targets in TRANSITIONS.items() if to in targets]
    now = timezone.now()
    if to in (BuildStatus.COMPLETE, BuildStatus.FAILED, BuildStatus.CANCELLED, BuildStatus.TIMED_OUT):
        fields.setdefault("finished_at", now)
    with write_transaction():
        return Build.objects.filter(pk=build_id, status__in=sources).update(status=to, **fields) == 1


def enter_phase(build: Build, phase: str) -> None:
    """Close the current phase and open `phase`, with timings (the page shows them)."""
    now = timezone.now().isoformat()
    phases = list(build.phases)
    if phases and phases[-1].get("finished_at") is None:
        phases[-1] = {**phases[-1], "finished_at": now}
    if phase:
        phases.append({"phase": phase, "started_at": now, "finished_at": None})
    build.phases, build.phase = phases, phase or build.phase
    with write_transaction():
        Build.objects.filter(pk=build.pk).update(phases=phases, phase=build.phase)


def cancel_build(build: Build, principal: Principal, client_ip: str | None = None) -> Build:
    """A queued build ends cancelled at once; a running one is asked to stop (its worker stops podman within
    a second or two and ends it cancelled). Conflict for a build that has finished."""
    by = "Cancelled by " + principal.username
    with write_transaction():
        # Straight to cancelled only while no worker holds it (queued): a running build's worker must stop podman
        # first, so it is asked to, and ends the build cancelled itself.
        done = Build.objects.filter(pk=build.pk, status=BuildStatus.QUEUED).update(
            status=BuildStatus.CANCELLED, error=by, finished_at=timezone.now(), cancel_requested=True)
        asked = done or Build.objects.filter(pk=build.pk, status__in=ACTIVE).update(cancel_requested=True)
    if not asked:
        raise Conflict("This build has finished; there is nothing to cancel.")
    audit.record("build_cancel", principal, client_ip=client_ip, repository=build.repository,
                 target=f"build {build.pk}")
    build.refresh_from_db()
    if done:   # a running build's worker sends its own when it has stopped podman
        signals.send(build, signals.CANCELLED)
    return build


def run_again(build: Build, principal: Principal, client_ip: str | None = None) -> Build:
    """A new build of the same source and settings, started by `principal`."""
    if build.source_kind == SourceKind.GIT and build.trigger is None:
        raise Conflict("The trigger of this build was deleted; it cannot run again.")
    upload = None
    if build.context_key:
        from registry_api import storage

        try:
            upload = storage.backend().open(build.context_key)
        except FileNotFoundError:
            raise Conflict("The upload of this build is gone; upload it again.") from None
    source = Source(kind=build.source_kind, trigger=build.trigger, commit_sha=build.commit_sha, ref=build.ref,
                    commit_message=build.commit_message, commit_author=build.commit_author,
                    upload=upload, upload_name=build.context_name)
    try:
        return queue_build(build.repository, principal, source, tags=build.tags, build_args=build.build_args,
                           build_args_stored=True, platforms=build.platforms,
                           dockerfile_path=build.dockerfile_path, context_dir=build.context_dir,
                           client_ip=client_ip)
    finally:
        if upload is not None:
            upload.close()


def record_failure(trigger_id: int | None, failed: bool) -> None:
    """Count a trigger's builds that failed in a row; past WHARF_BUILD_FAILURES_TO_DISABLE it disables itself,
    saying why."""
    if trigger_id is None:
        return
    with write_transaction():
        if not failed:
            Trigger.objects.filter(pk=trigger_id).update(consecutive_failures=0)
            return
        Trigger.objects.filter(pk=trigger_id).update(consecutive_failures=F("consecutive_failures") + 1)
        limit = settings.WHARF_BUILD_FAILURES_TO_DISABLE
        Trigger.objects.filter(pk=trigger_id, enabled=True, consecutive_failures__gte=limit).update(
            enabled=False, disabled_reason=f"Disabled after {limit} failed builds in a row; fix the build and "
                                           "enable it again.")

