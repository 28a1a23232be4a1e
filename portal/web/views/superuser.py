"""Pages for superusers only: to anyone else they do not exist (404, as for a missing page)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from registry_api.models import GcRun

GC_RUNS_PAGE_SIZE = 50


@require_safe
def gc_runs(request: HttpRequest) -> HttpResponse:
    """The garbage-collection runs, newest first: what each removed and freed, and any error."""
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_superuser):
        raise Http404()
    runs = Paginator(GcRun.objects.order_by("-started_at", "-id"), GC_RUNS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "web/gc_runs.html", {"runs": runs})
