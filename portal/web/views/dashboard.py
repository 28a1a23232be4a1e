"""The dashboard (home page when signed in), repository search, and starring a repository.

Everything listed here comes through `access.readable_repositories`, so a private repository the caller may
not read never shows up: searching for its name gives exactly what searching for a missing name gives.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from portal import access
from portal.accounts.models import Organization
from portal.repositories import stars
from portal.repositories.models import Repository
from portal.web.views.common import principal, user_of
from portal.web.views.repositories import get_repository
from registry_api.models import Tag

DASHBOARD_PAGE_SIZE = 50
SEARCH_PAGE_SIZE = 25
MAX_STARRED = 50
MAX_QUERY = 100


def with_last_push(repositories: QuerySet[Repository]) -> QuerySet[Repository]:
    """Annotate `last_push` (the newest tag change) and sort recently pushed first, never-pushed last.

    A subquery per repository rather than MAX over a join: it reads one row of the tag_recent index, however
    many tags the repository has.
    """
    newest = Tag.objects.live().filter(repository=OuterRef("pk")).order_by("-updated_at").values("updated_at")[:1]
    return repositories.annotate(last_push=Subquery(newest)).order_by(F("last_push").desc(nulls_last=True),
                                                                      "full_name")


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "web/landing.html")
    user, who = user_of(request), principal(request)
    # Repositories the user is involved in, not every public one: their own, granted, or their organizations'.
    mine = (Q(namespace__user_id=user.pk) | Q(permissions__user_id=user.pk)
            | Q(permissions__team__memberships__user_id=user.pk)
            | Q(namespace__organization__teams__memberships__user_id=user.pk))
    involved = Repository.objects.filter(mine).values("id")
    readable = access.readable_repositories(who)
    repositories = with_last_push(readable.filter(id__in=involved).select_related("namespace"))
    # A star outlives the right to read (a repository made private, a grant removed): show only readable ones.
    starred = stars.starred_repositories(user).filter(id__in=readable.values("id"))[:MAX_STARRED]
    organizations = Organization.objects.filter(teams__memberships__user=user).distinct().order_by("name")
    return render(request, "web/home.html", {
        "repositories": Paginator(repositories, DASHBOARD_PAGE_SIZE).get_page(request.GET.get("page")),
        "starred": starred, "organizations": organizations,
    })


@require_safe
def search(request: HttpRequest) -> HttpResponse:
    """Repositories whose name or description holds the query, among those the caller may read."""
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    results = None
    if query:
        found = access.readable_repositories(principal(request)).filter(
            Q(full_name__icontains=query) | Q(description__icontains=query))
        results = Paginator(with_last_push(found.select_related("namespace")), SEARCH_PAGE_SIZE).get_page(
            request.GET.get("page"))
    return render(request, "web/search.html", {"query": query, "results": results})


@login_required
@require_POST
def star(request: HttpRequest, full_name: str) -> HttpResponse:
    """Star (action=star) or unstar (action=unstar) a repository the user may read, then back to its page."""
    repository, _ = get_repository(request, full_name)
    user = user_of(request)
    if request.POST.get("action") == "unstar":
        stars.unstar(user, repository)
        messages.success(request, f"Unstarred {repository.full_name}.")
    else:
        stars.star(user, repository)
        messages.success(request, f"Starred {repository.full_name}.")
    return redirect("repository", repository.full_name)
