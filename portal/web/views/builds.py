"""A repository's Builds tab, a build's page with its live log, the log as JSON (polled by static/js/build-log.js)
and as a download.

Readers see builds and logs (a private repository's are a 404 to others, as for a missing repository); writers
start, cancel and run again builds (a reader's POST is a 403 before anything is parsed). The rules live in
builds.services; the page only turns an upload and its form into a call there.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods, require_safe

from builds import logs
from builds import services as build_services
from builds.models import ACTIVE, Build, BuildStatus, Phase, SourceKind
from portal.access import Role
from portal.client_address import client_ip
from portal.errors import ServiceError
from portal.repositories.models import Repository
from portal.web import commands
from portal.web.build_forms import ARCHIVE_NAMES, UploadBuildForm, hide_secret_values
from portal.web.views.common import Failed, add_service_error, page, principal
from portal.web.views.repositories import get_repository
from portal.web.views.tags import _base, page_number, pager
from registry_api.models import Manifest
from scanning.summaries import summaries

PER_PAGE = 25
LOG_PAGE = 2000      # lines in the first render and in each answer of the JSON endpoint
NEEDS_WRITE = "Only people who may push to this repository may start or cancel its builds."
# An upload is an archive when its first bytes say so (gzip, zip, or a tar header's magic at 257); the name
# decides only for a file too short to tell.
MAGIC = (b"\x1f\x8b", b"PK\x03\x04", b"PK\x05\x06")


def _repository(request: HttpRequest, full_name: str) -> tuple[Repository, Role]:
    repository, role = get_repository(request, full_name)
    if request.method == "POST" and role < Role.WRITE:
        raise PermissionDenied(NEEDS_WRITE)
    return repository, role


def _build(repository: Repository, build_id: str) -> Build:
    build = Build.objects.select_related("trigger", "started_by").filter(pk=build_id, repository=repository).first()
    if build is None:
        raise Http404("No such build.")
    return build


# --- The list and the upload form ------------------------------------------------------------------------------

@require_http_methods(["GET", "HEAD", "POST"])
def builds(request: HttpRequest, full_name: str) -> HttpResponse:
    repository, role = _repository(request, full_name)
    failed = None
    if request.method == "POST":
        outcome = _start(request, repository)
        if isinstance(outcome, HttpResponse):
            return outcome
        failed = outcome
    status = request.GET.get("status", "")
    rows = Build.objects.filter(repository=repository).select_related("trigger")
    if status in BuildStatus.values:
        rows = rows.filter(status=status)
    else:
        status = ""
    total = rows.count()
    num_pages = max(1, -(-total // PER_PAGE))
    number = min(max(page_number(request), 1), num_pages)
    shown = list(rows[(number - 1) * PER_PAGE:number * PER_PAGE])
    context = _base(request, repository, role, "builds", builds=shown, total=total, status=status,
                    statuses=BuildStatus.choices, pager=pager(request, number, num_pages, total),
                    upload_form=UploadBuildForm(), build=commands.build_commands(request, repository.full_name))
    return page(request, "web/repository_builds.html", context, failed)


def is_archive(upload: UploadedFile) -> bool:
    head = upload.read(512)
    upload.seek(0)
    if head.startswith(MAGIC) or head[257:262] == b"ustar":
        return True
    return len(head) < 262 and (upload.name or "").lower().endswith(ARCHIVE_NAMES)


def _start(request: HttpRequest, repository: Repository) -> HttpResponse | Failed:
    form = UploadBuildForm(request.POST, request.FILES)
    if not form.is_valid():
        return _failed(form)
    data = form.cleaned_data
    upload: UploadedFile = data["upload"]
    kind = SourceKind.ARCHIVE if is_archive(upload) else SourceKind.DOCKERFILE
    try:
        build = build_services.queue_build(
            repository, principal(request),
            build_services.Source(kind=kind, upload=cast(BinaryIO, upload), upload_name=upload.name or ""),
            tags=build_services.validate_tags(data["tags"]), build_args=data["build_args"],
            platforms=data["platforms"], dockerfile_path=data["dockerfile_path"] or None,
            client_ip=client_ip(request))
    except ServiceError as error:
        add_service_error(form, error, {"context": "upload"})
        # A full queue and an unreachable broker keep their own status: the form was fine.
        return _failed(form, error.status if error.status in (429, 503) else 400)
    messages.success(request, f"Build {build.pk} is queued.")
    return redirect("repository_build", repository.full_name, build.pk)


def _failed(form: UploadBuildForm, status: int = 400) -> Failed:
    hide_secret_values(form)
    return Failed("upload_form", form, status)


# --- One build --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PhaseRow:
    name: str
    label: str
    started_at: datetime | None
    seconds: float | None
    current: bool


def phase_rows(build: Build) -> list[PhaseRow]:
    labels = dict(Phase.choices)
    rows = []
    for entry in build.phases:
        started = parse_datetime(entry.get("started_at") or "")
        finished = parse_datetime(entry.get("finished_at") or "")
        seconds = (finished - started).total_seconds() if started and finished else None
        rows.append(PhaseRow(entry.get("phase", ""), labels.get(entry.get("phase", ""), entry.get("phase", "")),
                             started, seconds, finished is None and build.is_active))
    return rows


def pushed_rows(build: Build) -> list[dict[str, Any]]:
    """The tags the build pushed, each with its image's security scan (queued by the push, as every push)."""
    digests = {entry["digest"] for entry in build.pushed}
    ids = dict(Manifest.objects.filter(repository_id=build.repository_id, digest__in=digests)
               .values_list("digest", "id")) if digests else {}
    scans = summaries(ids.values())
    return [{**entry, "scan": scans.get(ids.get(entry["digest"], -1))} for entry in build.pushed]


def build_context(build: Build) -> dict[str, Any]:
    first = logs.read(build, 0, LOG_PAGE)
    return {
        "pushed": pushed_rows(build),
        "build": build, "phases": phase_rows(build), "log": first, "log_page": LOG_PAGE,
        "commands": [shlex.join(str(part) for part in argv) for argv in build.commands],
        "build_args": build_services.shown_build_args(build.build_args),
        "is_active": build.status in ACTIVE, "status_label": build.get_status_display(),
        "phase_label": build.get_phase_display(),
    }


@require_http_methods(["GET", "HEAD", "POST"])
def build(request: HttpRequest, full_name: str, build_id: str) -> HttpResponse:
    repository, role = _repository(request, full_name)
    item = _build(repository, build_id)
    if request.method == "POST":
        return _act(request, repository, item)
    context = _base(request, repository, role, "builds", **build_context(item))
    response = page(request, "web/build.html", context)
    if item.is_active:
        response["Cache-Control"] = "no-store"   # a running build's page must not come back stale from a cache
    return response


def _act(request: HttpRequest, repository: Repository, item: Build) -> HttpResponse:
    action = request.POST.get("action")
    try:
        if action == "cancel":
            item = build_services.cancel_build(item, principal(request), client_ip(request))
            messages.success(request, "The build is cancelled." if item.status == BuildStatus.CANCELLED
                             else "The build was asked to stop; it ends within a few seconds.")
        elif action == "run_again":
            again = build_services.run_again(item, principal(request), client_ip(request))
            messages.success(request, f"Build {again.pk} is queued: the same source and settings again.")
            return redirect("repository_build", repository.full_name, again.pk)
        else:
            return HttpResponse("Unknown action.", status=400, content_type="text/plain")
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("repository_build", repository.full_name, item.pk)


@require_safe
def build_log(request: HttpRequest, full_name: str, build_id: str) -> JsonResponse:
    """Log lines from ?start=N on; the page asks again from `next` each second until `finished`. Answers at
    once: nothing here waits for new lines."""
    repository, _ = get_repository(request, full_name)
    item = _build(repository, build_id)
    try:
        start = max(0, int(request.GET.get("start", "0")))
    except ValueError:
        start = 0
    chunk = logs.read(item, start, LOG_PAGE)
    if chunk.finished and item.status in ACTIVE:   # it ended between the two reads: show how it ended
        item.refresh_from_db(fields=["status", "phase", "error"])
    response = JsonResponse({"lines": chunk.lines, "start": chunk.start, "next": chunk.next,
                             "finished": chunk.finished, "truncated": chunk.truncated, "status": item.status,
                             "status_label": item.get_status_display(), "phase": item.phase,
                             "phase_label": item.get_phase_display(), "error": item.error})
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def build_log_download(request: HttpRequest, full_name: str, build_id: str) -> HttpResponse:
    repository, _ = get_repository(request, full_name)
    item = _build(repository, build_id)
    response = HttpResponse(logs.full_text(item), content_type="text/plain; charset=utf-8")
    name = repository.full_name.replace("/", "-")
    response["Content-Disposition"] = f'attachment; filename="{name}-build-{item.pk}.log"'
    response["Cache-Control"] = "no-store"
    return response

