"""Pages for superusers only: to anyone else they do not exist (404, as for a missing page)."""

from __future__ import annotations

from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from portal.broker import enqueue
from portal.web.forms import AdvisoryImportForm
from registry_api.models import GcRun
from scanning import report, tasks
from scanning.models import ImportRun

GC_RUNS_PAGE_SIZE = 50
IMPORT_RUNS_PAGE_SIZE = 50


def _superuser_only(request: HttpRequest) -> None:
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_superuser):
        raise Http404()


@require_safe
def gc_runs(request: HttpRequest) -> HttpResponse:
    """The garbage-collection runs, newest first: what each removed and freed, and any error."""
    _superuser_only(request)
    runs = Paginator(GcRun.objects.order_by("-started_at", "-id"), GC_RUNS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "web/gc_runs.html", {"runs": runs})


@require_http_methods(["GET", "HEAD", "POST"])
def advisories(request: HttpRequest) -> HttpResponse:
    """The advisory store's freshness and its imports, newest first; a form starts one (a task: reload to
    follow it)."""
    _superuser_only(request)
    posted = request.method == "POST"
    form = AdvisoryImportForm(request.POST, request.FILES) if posted else AdvisoryImportForm()
    if posted and form.is_valid():
        _start_import(request, form.cleaned_data.get("file"), form.cleaned_data.get("url") or "")
        return redirect("advisories")
    runs = Paginator(ImportRun.objects.order_by("-started_at", "-id"), IMPORT_RUNS_PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "web/advisories.html", {"form": form, "runs": runs, "freshness": report.freshness()},
                  status=400 if form.errors else 200)


def _start_import(request: HttpRequest, upload: UploadedFile | None, url: str) -> None:
    label = f"upload: {upload.name}" if upload is not None else url
    run = ImportRun.objects.create(source=label[:1024])
    # The task reads `source` (the upload, kept in blob storage, or the URL); the run names what was given.
    source = tasks.keep_upload(upload.chunks(), run.pk) if upload is not None else url
    transaction.on_commit(lambda: _send(run.pk, source))
    messages.success(request, f"Import {run.pk} started: reload this page to follow it.")


def _send(run_id: int, source: str) -> None:
    if not enqueue(tasks.import_advisories, source, run_id):
        ImportRun.objects.filter(pk=run_id, finished_at__isnull=True).update(
            error="the task queue could not take the import: try again", finished_at=timezone.now())
        tasks.discard_upload(source)
