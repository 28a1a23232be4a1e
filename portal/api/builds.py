"""Builds: /api/v1/repositories/{namespace}/{name}/builds/ and /api/v1/builds/{id}/…

Readers of a repository see its builds and their logs (to anyone else a private repository's builds do not
exist: 404, whatever the id); writers start, cancel and run them again (robots with write, and API tokens with
repo:write, too). The rules live in builds.services; this module turns requests into its calls.
"""

from __future__ import annotations

import json
import re
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from builds import logs, secrets, services, source
from builds.models import Build, BuildStatus, SourceKind, Trigger
from portal import access
from portal.access import Principal, Role
from portal.api import build_serializers as bs
from portal.api.base import ApiView, ShallowJSONParser, validated
from portal.api.permissions import ROLE_SCOPES, ROLE_WORDS, caller, refuse, repository_for
from portal.client_address import client_ip
from portal.errors import Conflict, Invalid, NotFound, ServiceError
from portal.repositories.models import Repository

TAGS = ["builds"]
COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
LOG_LIMIT = 1000        # lines per log page by default
MAX_LOG_LIMIT = 5000    # and at most: a page of the largest log stays a few MB
STATUS_FILTER = OpenApiParameter("status", str, description="Only builds in these statuses (comma-separated): "
                                 + ", ".join(BuildStatus.values) + ".")
BUILD_ID = OpenApiParameter("build_id", int, OpenApiParameter.PATH)
QUEUED = {201: OpenApiResponse(bs.BuildSerializer, description="Queued; Location names the build."),
          429: OpenApiResponse(description="The namespace has too many builds queued (Retry-After says when "
                                           "to try again)."),
          503: OpenApiResponse(description="The build queue is unreachable; nothing was queued.")}


class SourceUnavailable(ServiceError):
    """The git host did not tell us a branch's head."""

    status = 502
    code = "bad_gateway"


def build_for(request: Request, build_id: int, need: Role, what: str) -> Build:
    """The build, when the caller's role on its repository is at least `need`; 404 (the same as for a missing
    build) when the caller may not read that repository, so an id tells an outsider nothing."""
    principal = caller(request)
    build = Build.objects.select_related("repository__namespace").filter(pk=build_id).first()
    role = Role.NONE
    if build is not None:
        role = access.repository_role(principal, build.repository, build.repository.full_name)
    if build is None or role < Role.READ:
        raise NotFound(f"Build {build_id} does not exist, or you may not see it.")
    if role < need:
        _refuse_role(principal, build.repository, role, need, what)
    return build


def _refuse_role(principal: Principal, repository: Repository, role: Role, need: Role, what: str) -> None:
    full_name = repository.full_name
    refuse(principal, what, ROLE_SCOPES[need],
           lambda full: access.repository_role(full, repository, full_name) >= need,
           f": that needs the {ROLE_WORDS[need]} role on '{full_name}' and you have {ROLE_WORDS.get(role, 'none')}",
           robots_may=True)


def _queued(request: Request, build: Build, code: int = status.HTTP_201_CREATED) -> Response:
    body = bs.BuildSerializer(build, context={"request": request}).data
    response = Response(body, status=code)
    response["Location"] = request.build_absolute_uri(bs.build_path(build.pk))
    return response


class BuildList(ApiView):
    parser_classes = [ShallowJSONParser, MultiPartParser, FormParser]

    @extend_schema(tags=TAGS, responses=bs.BuildSerializer(many=True), parameters=[STATUS_FILTER])
    def get(self, request: Request, namespace: str, name: str) -> Response:
        """The repository's builds, newest first (readers)."""
        repository, _ = repository_for(request, namespace, name, Role.READ, "read")
        builds = Build.objects.filter(repository=repository).select_related("repository")
        wanted = [word for word in request.query_params.get("status", "").split(",") if word]
        unknown = sorted(set(wanted) - set(BuildStatus.values))
        if unknown:
            raise Invalid(f"Unknown status {', '.join(unknown)}; use any of {', '.join(BuildStatus.values)}.",
                          "status")
        if wanted:
            builds = builds.filter(status__in=wanted)
        return self.paginated(builds.order_by("-id"), bs.BuildSerializer, request=request)

    @extend_schema(tags=TAGS, request={"multipart/form-data": bs.BuildUploadSerializer,
                                       "application/json": bs.BuildFromTriggerSerializer}, responses=QUEUED)
    def post(self, request: Request, namespace: str, name: str) -> Response:
        """Start a build (writers): of an uploaded Dockerfile or context archive (multipart/form-data), or of
        one of the repository's triggers at a commit (JSON; no commit: the head of its default branch)."""
        repository, _ = repository_for(request, namespace, name, Role.WRITE, "start builds in this repository")
        if "trigger" in request.data:
            build = _build_of_trigger(request, repository)
        else:
            build = _build_of_upload(request, repository)
        return _queued(request, build)


def _build_of_upload(request: Request, repository: Repository) -> Build:
    dockerfile, context = request.FILES.get("dockerfile"), request.FILES.get("context")
    if dockerfile is None and context is None:
        raise Invalid("Give a dockerfile or a context archive (multipart/form-data), or a trigger (JSON).",
                      "dockerfile")
    if dockerfile is not None and context is not None:
        raise Invalid("Give a dockerfile or a context archive, not both.", "context")
    data = validated(bs.BuildUploadSerializer, request)
    upload = dockerfile or context
    assert upload is not None
    if context is not None and not _looks_like_archive(context):
        raise Invalid("The context is not a tar, tar.gz or zip archive.", "context")
    build_args: Any = None
    if data.get("build_args", "").strip():
        try:
            build_args = json.loads(data["build_args"])
        except ValueError:
            raise Invalid("Build arguments are JSON, e.g. {\"VERSION\": \"1.2\"}.", "build_args") from None
    kind = SourceKind.DOCKERFILE if dockerfile is not None else SourceKind.ARCHIVE
    return services.queue_build(
        repository, caller(request), services.Source(kind=kind, upload=upload, upload_name=upload.name or ""),
        tags=data.get("tags"), build_args=build_args, platforms=data.get("platforms"),
        dockerfile_path=data.get("dockerfile_path"), context_dir=data.get("context_dir"),
        client_ip=client_ip(request))


def _looks_like_archive(upload: Any) -> bool:
    """gzip, zip or a POSIX tar, told by the first bytes as the worker tells them (a name says nothing)."""
    head = upload.read(512)
    upload.seek(0)
    return head[:2] == b"\x1f\x8b" or head[:4] in (b"PK\x03\x04", b"PK\x05\x06") or head[257:262] == b"ustar"


def _build_of_trigger(request: Request, repository: Repository) -> Build:
    data = validated(bs.BuildFromTriggerSerializer, request)
    trigger = Trigger.objects.filter(pk=data["trigger"], repository=repository).first()
    if trigger is None:
        raise Invalid(f"{repository.full_name} has no trigger {data['trigger']}.", "trigger")
    ref = _ref(data.get("ref", ""), trigger)
    commit = data.get("commit", "").strip().lower()
    if commit and COMMIT_RE.fullmatch(commit) is None:
        raise Invalid("commit must be a full commit id (40 or 64 hexadecimal digits).", "commit")
    if not commit:
        commit = _head_of(trigger, ref)
    return services.queue_build(
        repository, caller(request), services.Source(kind=SourceKind.GIT, trigger=trigger, commit_sha=commit,
                                                     ref=ref),
        tags=data.get("tags") or None, build_args=data.get("build_args"), platforms=data.get("platforms"),
        client_ip=client_ip(request))


def _ref(given: str, trigger: Trigger) -> str:
    """refs/heads/<name> for a bare branch name; the trigger's default branch when none is given."""
    ref = given.strip() or trigger.default_branch
    if any(c.isspace() or ord(c) < 32 for c in ref) or ".." in ref or ref.endswith("/"):
        raise Invalid(f"'{ref}' is not a git ref.", "ref")
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


def _head_of(trigger: Trigger, ref: str) -> str:
    """The commit `ref` points at now, asked of the git host."""
    deploy_key = None
    if trigger.deploy_key_encrypted:
        try:
            deploy_key = secrets.decrypt(trigger.deploy_key_encrypted)
        except ValueError:
            raise Conflict("This trigger's deploy key cannot be read on this server; create the trigger "
                           "again.") from None
    try:
        commit = source.resolve(trigger.clone_url, ref, deploy_key=deploy_key)
    except source.SourceError as exc:
        raise SourceUnavailable(f"Could not read {ref} of {trigger.source_name}: {exc}") from None
    return commit


class BuildDetail(ApiView):
    @extend_schema(tags=TAGS, responses=bs.BuildSerializer, parameters=[BUILD_ID])
    def get(self, request: Request, build_id: str) -> Response:
        """A build with its phases, commands and pushed digests (readers of its repository)."""
        build = build_for(request, int(build_id), Role.READ, "read")
        return Response(bs.BuildSerializer(build, context={"request": request}).data)


class BuildLogs(ApiView):
    @extend_schema(tags=TAGS, responses=bs.LogPageSerializer, parameters=[
        BUILD_ID,
        OpenApiParameter("start", int, description="The first line to return (from 0): the last page's `next`."),
        OpenApiParameter("limit", int, description=f"At most this many lines (default {LOG_LIMIT}, "
                                                   f"up to {MAX_LOG_LIMIT}).")])
    def get(self, request: Request, build_id: str) -> Response:
        """Lines of the build's log from `start` on (readers). Poll with the answer's `next` until `finished`."""
        build = build_for(request, int(build_id), Role.READ, "read")
        try:
            start = int(request.query_params.get("start", 0))
        except ValueError:
            raise Invalid("start must be a whole number, from 0.", "start") from None
        if start < 0:
            raise Invalid("start must be a whole number, from 0.", "start")
        try:   # like per_page: a bad limit falls back to the default
            limit = int(request.query_params.get("limit", LOG_LIMIT))
        except ValueError:
            limit = LOG_LIMIT
        page = logs.read(build, start, min(max(limit, 1), MAX_LOG_LIMIT))
        return Response({"lines": page.lines, "start": page.start, "next": page.next, "finished": page.finished,
                         "truncated": page.truncated})


class BuildCancel(ApiView):
    @extend_schema(tags=TAGS, request=None, responses=bs.BuildSerializer, parameters=[BUILD_ID])
    def post(self, request: Request, build_id: str) -> Response:
        """Cancel a build (writers): a queued one at once, a running one within seconds. 409 once finished."""
        build = build_for(request, int(build_id), Role.WRITE, "cancel builds of this repository")
        build = services.cancel_build(build, caller(request), client_ip=client_ip(request))
        return Response(bs.BuildSerializer(build, context={"request": request}).data)


class BuildRerun(ApiView):
    @extend_schema(tags=TAGS, request=None, responses=QUEUED, parameters=[BUILD_ID])
    def post(self, request: Request, build_id: str) -> Response:
        """Run the build again (writers): a new build of the same source and settings."""
        build = build_for(request, int(build_id), Role.WRITE, "start builds in this repository")
        again = services.run_again(build, caller(request), client_ip=client_ip(request))
        return _queued(request, again)
