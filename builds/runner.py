"""One build, start to end, in a worker: claim the row, fetch the source, build with podman, push through /v2/
like any client, tag, record provenance, and always clean up (clone, run root, the built image's name).

Idempotent: a redelivered message for a build another worker holds (fresh heartbeat) or that has ended does
nothing; one whose worker died (stale heartbeat) is taken back to the queue or failed (builds.tasks.reap)."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from builds import dockerfile as builds_dockerfile
from builds import podman, secrets, services, signals, source
from builds.logs import FLUSH_SECONDS, LogWriter, Masker
from builds.models import ACTIVE, Build, BuildStatus, Phase, SourceKind
from portal.db import write_transaction

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def paths(build: Build) -> tuple[Path, Path, Path]:
    """(work, run root, cache): the build's context, podman's run root, and the repository's layer cache."""
    root = Path(settings.WHARF_BUILD_DIR)
    return root / "work" / str(build.pk), root / "run" / str(build.pk), root / "cache" / str(build.repository_id)


def claim(build_id: int) -> Build | None:
    """Take a queued build (queued → running), or None when it is not there to take."""
    now = timezone.now()
    with write_transaction():
        taken = Build.objects.filter(pk=build_id, status=BuildStatus.QUEUED, cancel_requested=False).update(
            status=BuildStatus.RUNNING, started_at=Coalesce(F("started_at"), now), heartbeat_at=now,
            attempts=F("attempts") + 1, worker=worker_name()[:200])
    if not taken:
        return None
    build = Build.objects.select_related("repository", "trigger").get(pk=build_id)
    signals.send(build, signals.STARTED)
    return build


def reap(build: Build, reason: str = "its worker stopped (killed or lost)") -> str:
    """A build whose worker died: back to the queue while it has attempts left, else failed. Returns the new
    status ("" when someone else moved it first)."""
    attempts_left = build.attempts < settings.WHARF_BUILD_ATTEMPTS
    stale = timezone.now() - timedelta(seconds=settings.WHARF_BUILD_HEARTBEAT_TIMEOUT)
    with write_transaction():
        moved = Build.objects.filter(pk=build.pk, status__in=[BuildStatus.RUNNING, BuildStatus.PUSHING],
                                     heartbeat_at__lt=stale)
        if attempts_left:
            done = moved.update(status=BuildStatus.QUEUED, worker="", phase=Phase.WAITING)
            status = BuildStatus.QUEUED
        else:
            done = moved.update(status=BuildStatus.FAILED, finished_at=timezone.now(),
                                error=f"The build failed: {reason}, {build.attempts} times.")
            status = BuildStatus.FAILED
    if not done:
        return ""
    if status == BuildStatus.FAILED:
        services.record_failure(build.trigger_id, failed=True)
    return status


class Heartbeat(threading.Thread):
    """Beats the build's heartbeat and reads its cancel flag every HEARTBEAT_SECONDS, and writes the log lines
    waiting in the writer every FLUSH_SECONDS: podman's last line before a quiet step (a long RUN) must not wait
    for the next one to reach the page."""

    def __init__(self, build_id: int, writer: LogWriter) -> None:
        super().__init__(name=f"build-{build_id}-heartbeat", daemon=True)
        self.build_id = build_id
        self.writer = writer
        self.cancel = threading.Event()
        self._halt = threading.Event()   # not `_stop`: threading.Thread has a method of that name

    def run(self) -> None:
        from django.db import connection

        try:
            beat = time.monotonic()
            while not self._halt.wait(FLUSH_SECONDS):
                if self.writer.pending():
                    self.writer.flush()
                if time.monotonic() - beat < HEARTBEAT_SECONDS:
                    continue
                beat = time.monotonic()
                with write_transaction():
                    Build.objects.filter(pk=self.build_id).update(heartbeat_at=timezone.now())
                if Build.objects.filter(pk=self.build_id, cancel_requested=True).exists():
                    self.cancel.set()
        except Exception:   # noqa: BLE001 (a heartbeat that fails is logged; the build goes on)
            log.exception("build %s: heartbeat failed", self.build_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


class BuildFailed(Exception):
    def __init__(self, message: str, status: str = BuildStatus.FAILED) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class Registry:
    host: str           # host:port as clients name it
    tls_verify: bool


def registry() -> Registry:
    url = urlsplit(settings.WHARF_BUILD_REGISTRY_URL or settings.WHARF_SITE_URL)
    return Registry(url.netloc, url.scheme == "https")


def run(build_id: int) -> None:
    build = claim(build_id)
    if build is None:
        return
    masker = Masker()
    writer = LogWriter(build.pk, masker, first_line=build.log_lines, written_bytes=build.log_bytes)
    heartbeat = Heartbeat(build.pk, writer)
    heartbeat.start()
    work, run_root, cache = paths(build)
    image = f"localhost/wharf-build-{build.pk}"
    engines: list[podman.Podman] = []   # filled once podman is about to run: a failed build keeps its commands too
    status: str = BuildStatus.FAILED
    error = ""
    try:
        if build.attempts > 1:
            writer.line(f"Attempt {build.attempts}: the worker of the previous attempt stopped.")
        _run_steps(build, masker, writer, heartbeat, work, run_root, cache, image, engines)
        status = BuildStatus.COMPLETE
    except BuildFailed as exc:
        status, error = exc.status, exc.message
        writer.line(f"Build {status.replace('_', ' ')}: {error}")
    except Exception as exc:   # noqa: BLE001 (a bug must still end the build, not leave it running)
        log.exception("build %s crashed", build.pk)
        error = f"Wharf failed while building ({type(exc).__name__}); the log has what happened before."
        writer.line(error)
    finally:
        # Each step on its own: whatever fails here, the build must still end (a build left "running" waits
        # for the reaper).
        for step in (heartbeat.stop, lambda: _release(engines[0] if engines else None, build, image),
                     lambda: shutil.rmtree(work, ignore_errors=True),
                     lambda: shutil.rmtree(run_root, ignore_errors=True),
                     writer.flush):   # the log before the status: a reader that sees the end has every line
            try:
                step()
            except Exception:   # noqa: BLE001
                log.exception("build %s: cleaning up failed", build.pk)
        _finish(build, status, error)


def _finish(build: Build, status: str, error: str) -> None:
    services.enter_phase(build, "")
    if status == BuildStatus.COMPLETE:
        ended = services.transition(build.pk, BuildStatus.COMPLETE, error="")
    else:
        ended = services.transition(build.pk, status, error=error[:2000])
    if ended:
        services.record_failure(build.trigger_id, failed=status != BuildStatus.COMPLETE)
        build.refresh_from_db()
        event = {str(BuildStatus.COMPLETE): signals.SUCCEEDED, str(BuildStatus.CANCELLED): signals.CANCELLED}
        signals.send(build, event.get(status, signals.FAILED))


def _release(engine: podman.Podman | None, build: Build, image: str) -> None:
    """Forget the built image's name (its layers stay cached) and keep the command lines podman ran."""
    if engine is not None:
        engine.remove(image)
        _save_commands(build, engine)


def _save_commands(build: Build, engine: podman.Podman) -> None:
    with write_transaction():
        Build.objects.filter(pk=build.pk).update(commands=engine.commands[:100])


def _check(build: Build, heartbeat: Heartbeat, deadline: float) -> None:
    if heartbeat.cancel.is_set():
        raise BuildFailed("cancelled", BuildStatus.CANCELLED)
    if time.monotonic() > deadline:
        raise BuildFailed(f"it ran past its time limit of {build.time_limit} seconds", BuildStatus.TIMED_OUT)


def _run_steps(build: Build, masker: Masker, writer: LogWriter, heartbeat: Heartbeat, work: Path, run_root: Path,
               cache: Path, image: str, engines: list[podman.Podman]) -> None:
    deadline = time.monotonic() + build.time_limit
    if not build.credential:
        raise BuildFailed("nobody to push as: the trigger's creator no longer exists or is disabled; "
                          "an admin should create the trigger again")
    build_args = services.plain_build_args(build.build_args)
    for _name, value, secret in build_args:
        if secret:
            masker.add(value)
    deploy_key = None
    if build.trigger is not None and build.trigger.deploy_key_encrypted:
        deploy_key = secrets.decrypt(build.trigger.deploy_key_encrypted)
        masker.add(deploy_key)

    services.enter_phase(build, Phase.FETCHING)
    shutil.rmtree(work, ignore_errors=True)
    work.parent.mkdir(parents=True, exist_ok=True)
    try:
        if build.source_kind == SourceKind.GIT:
            commit = source.clone(build.source_url, build.commit_sha, work, ref=build.ref, deploy_key=deploy_key,
                                  log=writer.line)
            if commit != build.commit_sha:
                with write_transaction():
                    Build.objects.filter(pk=build.pk).update(commit_sha=commit)
                build.commit_sha = commit
        else:
            _unpack_upload(build, work, writer)
    except source.SourceError as exc:
        raise BuildFailed(str(exc)) from None
    _check(build, heartbeat, deadline)

    # Both paths are from the source's root, as Quay's triggers name them (not the Dockerfile from the context).
    context = (work / build.context_dir) if build.context_dir else work
    dockerfile = work / build.dockerfile_path
    for path, what in ((context, "context directory"), (dockerfile, "Dockerfile")):
        resolved = path.resolve()
        if not resolved.is_relative_to(work.resolve()) or not resolved.exists():
            raise BuildFailed(f"the {what} '{path.relative_to(work)}' is not in the source")
    if dockerfile.stat().st_size > 1024 * 1024:
        raise BuildFailed("the Dockerfile is larger than 1 MiB")
    refused = builds_dockerfile.problems(dockerfile.read_text(errors="replace"), network=build.network)
    if refused:
        for problem in refused:
            writer.line(f"Refused: {problem}")
        raise BuildFailed("the Dockerfile asks for what builds may not do: " + "; ".join(refused))

    services.enter_phase(build, Phase.BUILDING)
    run_root.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    target = registry()
    refresh = _push_credential(build, target)
    masker.add(refresh)
    authfile = run_root / "auth.json"
    # containers/image reads an identity token only beside an "auth" entry that decodes to "user:" (as docker
    # writes it, with "<token>" as the user); alone it is dropped and podman pushes anonymously.
    authfile.write_text(json.dumps({"auths": {target.host: {
        "auth": base64.b64encode(b"<token>:").decode(), "identitytoken": refresh}}}))
    authfile.chmod(0o600)
    limits = podman.Limits(deadline=deadline, memory_mb=settings.WHARF_BUILD_MEMORY_LIMIT,
                           pids=settings.WHARF_BUILD_PIDS_LIMIT, file_size_mb=settings.WHARF_BUILD_FILE_SIZE_LIMIT,
                           min_free_mb=settings.WHARF_BUILD_MIN_FREE)
    engine = podman.Podman(storage_root=cache, run_root=run_root, log=writer.line, cancelled=heartbeat.cancel.is_set,
                           limits=limits, driver=settings.WHARF_BUILD_STORAGE_DRIVER,
                           isolation=settings.WHARF_BUILD_ISOLATION, authfile=authfile,
                           tls_verify=target.tls_verify)
    engines.append(engine)
    provenance = _provenance(build)
    outcome = engine.build(context, dockerfile, image, platforms=build.platforms, build_args=build_args,
                           labels=provenance, annotations=provenance, network=build.network)
    _fail_on(outcome, build, "the build")

    services.transition(build.pk, BuildStatus.PUSHING)
    services.enter_phase(build, Phase.PUSHING)
    repository = build.repository.full_name
    pushed: list[dict[str, str]] = []
    digest = ""
    for tag in build.tags:
        _check(build, heartbeat, deadline)
        digestfile = run_root / f"digest-{len(pushed)}"
        writer.line(f"Pushing {target.host}/{repository}:{tag}")
        outcome = engine.push(image, f"docker://{target.host}/{repository}:{tag}", authfile=authfile,
                              tls_verify=target.tls_verify, digestfile=digestfile,
                              manifest_list=len(build.platforms) > 1)
        _fail_on(outcome, build, f"pushing {tag}")
        digest = digestfile.read_text().strip() if digestfile.exists() else digest
        pushed.append({"tag": tag, "digest": digest})
        with write_transaction():
            Build.objects.filter(pk=build.pk).update(pushed=pushed, manifest_digest=digest)
    _record_provenance(build, pushed)
    writer.line(f"Pushed {digest} as " + ", ".join(p["tag"] for p in pushed))
    # The push queued the image's security scan, as every push does (the registry's manifest_pushed signal):
    # the page follows it from the pushed digest.
    services.enter_phase(build, Phase.SCAN_QUEUED)


def _fail_on(outcome: podman.Outcome, build: Build, what: str) -> None:
    if outcome.ok:
        return
    if outcome.reason == "cancelled":
        raise BuildFailed("cancelled", BuildStatus.CANCELLED)
    if outcome.reason == "timed out":
        raise BuildFailed(f"it ran past its time limit of {build.time_limit} seconds", BuildStatus.TIMED_OUT)
    raise BuildFailed(f"{what} failed: {outcome.reason}" if outcome.reason
                      else f"{what} failed (podman exited with {outcome.returncode}); the log says why")


def _unpack_upload(build: Build, work: Path, writer: LogWriter) -> None:
    from registry_api import storage

    work.mkdir(parents=True)
    writer.line(f"Unpacking the upload {build.context_name or ''}".rstrip())
    try:
        upload = storage.backend().open(build.context_key)
    except FileNotFoundError:
        raise BuildFailed("the uploaded file is gone from storage; upload it again") from None
    with upload:
        source.unpack(upload, build.context_name, work, max_bytes=settings.WHARF_BUILD_CONTEXT_UNPACKED_LIMIT)


def _push_credential(build: Build, target: Registry) -> str:
    """A refresh token for the build's credential, capped to push on its one repository (and pull elsewhere,
    as far as the credential may), valid for the build's time limit. podman trades it for registry tokens at
    /v2/auth like any client with an identity token."""
    from registry_api import tokens

    name = build.started_by_name or "build"
    if build.trigger is not None and build.trigger.created_by is not None and not build.started_by_name:
        name = build.trigger.created_by.username
    return tokens.issue_refresh(name, build.credential, ttl=build.time_limit + 600,
                                ceiling={build.repository.full_name: ["pull", "push"], "*": ["pull"]})


def _provenance(build: Build) -> dict[str, str]:
    labels = {"io.wharf.build.id": str(build.pk),
              "org.opencontainers.image.created": timezone.now().isoformat(timespec="seconds")}
    if build.trigger_id:
        labels["io.wharf.build.trigger"] = str(build.trigger_id)
    if build.commit_sha:
        labels["org.opencontainers.image.revision"] = build.commit_sha
    if build.source_url:
        labels["org.opencontainers.image.source"] = build.source_url
    if build.ref:
        labels["io.wharf.build.ref"] = build.ref
    return labels


def _record_provenance(build: Build, pushed: list[dict[str, str]]) -> None:
    """The tag history's entries of this build's pushes name the build, trigger, commit and source."""
    from registry_api.models import TagEvent

    detail = {"build": build.pk, "trigger": build.trigger_id, "commit": build.commit_sha,
              "source": build.source_url}
    since = build.started_at or build.created_at
    with write_transaction():
        for entry in pushed:
            event = (TagEvent.objects.filter(repository_id=build.repository_id, tag=entry["tag"],
                                             digest=entry["digest"], created_at__gte=since)
                     .order_by("-created_at").first())
            if event is not None:
                TagEvent.objects.filter(pk=event.pk).update(provenance=detail)


def active_ids() -> set[int]:
    """Builds some worker holds now (fresh heartbeat): their processes must be left alone."""
    fresh = timezone.now() - timedelta(seconds=settings.WHARF_BUILD_HEARTBEAT_TIMEOUT)
    return set(Build.objects.filter(status__in=ACTIVE, heartbeat_at__gte=fresh).values_list("pk", flat=True))
