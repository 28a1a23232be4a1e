"""An image's security pages: its findings grouped by package, its package inventory, its SBOM download, and
"Scan again" for those who may push.

Readers of the repository see them (404 to anyone else, as for a missing repository); a reader's POST gets
403. What is shown comes from scanning.report; a re-scan goes through scanning.services like a push's.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_safe

from portal.access import Role
from portal.names import is_supported_digest
from portal.repositories.models import Repository
from portal.web.views.common import handle_post
from portal.web.views.tags import _base, _writable, page_number, pager
from registry_api.models import Manifest
from scanning import receivers, report, sbom, services
from scanning.severity import Severity
from scanning.summaries import summaries

FINDINGS_PER_PAGE = 50      # packages per page
PACKAGES_PER_PAGE = 100
SEVERITY_CHOICES = [severity.name.lower() for severity in sorted(Severity, reverse=True)]


def _manifest(repository: Repository, digest: str) -> Manifest:
    manifest = Manifest.objects.filter(repository=repository, digest=digest).first() \
        if is_supported_digest(digest) else None
    if manifest is None:
        raise Http404("No such manifest.")
    return manifest


def _context(request: HttpRequest, repository: Repository, role: Role, manifest: Manifest,
             view: str, **more: Any) -> dict[str, Any]:
    return _base(request, repository, role, "tags", manifest=manifest, view=view,
                 scan=summaries([manifest.pk]).get(manifest.pk), has_sbom=report.sbom_referrer(manifest) is not None,
                 freshness=report.freshness(), **more)


@require_http_methods(["GET", "HEAD", "POST"])
def security(request: HttpRequest, full_name: str, digest: str) -> HttpResponse:
    repository, role = _writable(request, full_name)
    manifest = _manifest(repository, digest)
    outcome = handle_post(request, {"rescan": _rescan}, manifest)
    if isinstance(outcome, HttpResponse):
        return outcome
    severity_name = request.GET.get("severity", "").lower()
    minimum = Severity[severity_name.upper()] if severity_name in SEVERITY_CHOICES else Severity.UNKNOWN
    fixable = request.GET.get("fixable") == "1"
    result = report.findings_page(manifest, min_severity=minimum, fixable=fixable, page=page_number(request),
                                  per_page=FINDINGS_PER_PAGE)
    context = _context(request, repository, role, manifest, "findings", result=result,
                       pager=pager(request, result.page, result.num_pages, result.total),
                       severity=severity_name if severity_name in SEVERITY_CHOICES else "",
                       severities=SEVERITY_CHOICES, fixable=fixable, platforms=report.platforms(manifest))
    return render(request, "web/security.html", context)


def _rescan(request: HttpRequest, manifest: Manifest) -> None:
    if services.request_rescan(manifest.pk):
        manifest_id = manifest.pk
        transaction.on_commit(lambda: receivers.send(manifest_id))
        messages.success(request, "Queued a new scan of this image.")
    else:
        messages.info(request, "This image is being scanned right now.")


@require_safe
def packages(request: HttpRequest, full_name: str, digest: str) -> HttpResponse:
    repository, role = _writable(request, full_name)
    manifest = _manifest(repository, digest)
    name = request.GET.get("name", "").strip()[:200]
    result = report.packages_page(manifest, name=name, page=page_number(request), per_page=PACKAGES_PER_PAGE)
    context = _context(request, repository, role, manifest, "packages", result=result, name=name,
                       pager=pager(request, result.page, result.num_pages, result.total))
    return render(request, "web/security_packages.html", context)


@require_safe
def sbom_download(request: HttpRequest, full_name: str, digest: str) -> FileResponse:
    repository, _ = _writable(request, full_name)
    document = report.open_sbom(_manifest(repository, digest))
    if document is None:
        raise Http404("This image has no SBOM yet: it is made when the image is scanned.")
    return FileResponse(document, as_attachment=True, filename=sbom.FILE_NAME, content_type=sbom.MEDIA_TYPE)
