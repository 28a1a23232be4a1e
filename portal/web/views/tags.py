"""A repository's tags page, tag history ("time machine") and manifest page.

Reading needs read on the repository (404 otherwise, as for a missing one); every change (delete, retag,
expiry, restore) needs write, and a reader's POST gets 403 before anything is parsed. The rules live in
portal.repositories.tags; a refusal is drawn as the page with the form's message and status 400, and
nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_safe

from portal.access import Role
from portal.client_address import client_ip
from portal.errors import ServiceError
from portal.repositories import tags as tag_services
from portal.repositories.models import Repository
from portal.web import commands
from portal.web.forms import ExpiryForm, RestoreForm, RetagForm, TagFilterForm, TagForm
from portal.web.views.common import Failed, Handler, ask_first, attempt, confirmed, handle_post, page, principal
from portal.web.views.repositories import NEEDS, get_repository
from registry_api.models import Manifest, Tag
from scanning.summaries import summaries

PER_PAGE = 50
IMAGE_CONFIGS = {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
# The services name the fields they refuse; these are the page forms' names for them.
FIELDS = {"manifest_digest": "digest"}
RETAG_FIELDS = {"tag": "name", "manifest_digest": "digest"}


@dataclass
class Pager:
    page: int
    num_pages: int
    total: int
    first: str
    previous: str
    next: str
    last: str


def pager(request: HttpRequest, number: int, num_pages: int, total: int) -> Pager:
    """Links to the first, previous, next and last pages, keeping the page's other query parameters."""
    def url(target: int) -> str:
        query = {key: value for key, value in request.GET.items() if key != "page" and value}
        return "?" + urlencode({**query, "page": target})
    return Pager(number, num_pages, total, url(1) if number > 1 else "", url(number - 1) if number > 1 else "",
                 url(number + 1) if number < num_pages else "", url(num_pages) if number < num_pages else "")


def page_number(request: HttpRequest) -> int:
    try:
        return int(request.GET.get("page", "1"))
    except ValueError:
        return 1


def _writable(request: HttpRequest, full_name: str) -> tuple[Repository, Role]:
    """The repository for a page whose POSTs change tags: read to see it, write to post to it."""
    repository, role = get_repository(request, full_name)
    if request.method == "POST" and role < Role.WRITE:
        raise PermissionDenied(NEEDS[Role.WRITE])
    return repository, role


def _base(request: HttpRequest, repository: Repository, role: Role, tab: str, **more: Any) -> dict[str, Any]:
    return {"repository": repository, "role": role.name.lower(), "may_write": role >= Role.WRITE,
            "is_admin": role >= Role.ADMIN, "tab": tab, **more}


# --- Tags -------------------------------------------------------------------------------------------------------

@require_http_methods(["GET", "HEAD", "POST"])
def tags(request: HttpRequest, full_name: str) -> HttpResponse:
    repository, role = _writable(request, full_name)
    outcome = handle_post(request, TAG_HANDLERS, repository)
    if isinstance(outcome, HttpResponse):
        return outcome
    filter_form = TagFilterForm(request.GET)
    name_filter = filter_form.cleaned_data["filter"].strip() if filter_form.is_valid() else ""
    result = tag_services.tag_page(repository, name_filter=name_filter, page=page_number(request), per_page=PER_PAGE)
    context = _base(request, repository, role, "tags", filter_form=filter_form, name_filter=name_filter,
                    result=result, pager=pager(request, result.page, result.num_pages, result.total),
                    pull_prefix=commands.pull_by_tag_prefix(request, repository.full_name))
    return page(request, "web/repository_tags.html", context, outcome)


def _current_digest(repository: Repository, name: str) -> str | None:
    """Where the tag points now (None when there is no such tag: the service then says so)."""
    tag = Tag.objects.live().filter(repository=repository, name=name)
    return tag.values_list("manifest__digest", flat=True).first()


def _delete(request: HttpRequest, repository: Repository) -> HttpResponse | Failed | None:
    form = TagForm(request.POST)
    if form.is_valid() and not confirmed(request):
        name = form.cleaned_data["tag"]
        digest = _current_digest(repository, name)
        if digest is not None:
            return ask_first(request, f"Delete the tag {name}?",
                             f"{repository.full_name}:{name} points at {digest}. Pulls of {name} fail from now on; "
                             f"the manifest stays, and the history can restore the tag for "
                             f"{settings.WHARF_TAG_HISTORY_DAYS} days.", "Delete tag")
    failed = attempt("failed_form", form, lambda: tag_services.delete_tag(
        principal(request), repository, form.cleaned_data["tag"], client_ip=client_ip(request)))
    if failed is None:
        messages.success(request, f"Deleted the tag {form.cleaned_data['tag']}; the history can restore it.")
    return failed


def _retag(request: HttpRequest, repository: Repository) -> HttpResponse | Failed | None:
    form = RetagForm(request.POST)
    if form.is_valid() and not confirmed(request):
        name, digest = form.cleaned_data["name"].strip(), form.cleaned_data["digest"]
        previous = _current_digest(repository, name)
        if previous is not None and previous != digest:   # adding a tag that exists moves it: ask first
            return ask_first(request, f"Move the tag {name}?",
                             f"{name} already exists in {repository.full_name}. Adding it here moves it from "
                             f"{previous} to {digest}: pulls of {name} get the other image from now on. The "
                             f"history can move it back.", "Move tag")
    failed = attempt("failed_form", form, lambda: tag_services.retag(
        principal(request), repository, form.cleaned_data["name"].strip(), form.cleaned_data["digest"],
        client_ip=client_ip(request)), RETAG_FIELDS)
    if failed is None:
        messages.success(request, f"The tag {form.cleaned_data['name'].strip()} now points at "
                                  f"{form.cleaned_data['digest']}.")
    return failed


def _expiry(request: HttpRequest, repository: Repository) -> Failed | None:
    """Set the expiry, or with the Clear button (which ignores the date field) remove it."""
    clear = "clear" in request.POST
    form: TagForm | ExpiryForm = TagForm(request.POST) if clear else ExpiryForm(request.POST)
    failed = attempt("failed_form", form, lambda: tag_services.set_expiry(
        principal(request), repository, form.cleaned_data["tag"],
        None if clear else form.cleaned_data["expires_at"], client_ip=client_ip(request)))
    if failed is None:
        tag = form.cleaned_data["tag"]
        messages.success(request, f"The tag {tag} no longer expires." if clear
                         else f"The tag {tag} expires at {form.cleaned_data['expires_at']:%Y-%m-%d %H:%M} UTC.")
    return failed


TAG_HANDLERS: dict[str, Handler[Repository]] = {"delete": _delete, "retag": _retag, "expiry": _expiry}


# --- History ----------------------------------------------------------------------------------------------------

@require_http_methods(["GET", "HEAD", "POST"])
def history(request: HttpRequest, full_name: str) -> HttpResponse:
    repository, role = _writable(request, full_name)
    outcome = handle_post(request, {"restore": _restore}, repository)
    if isinstance(outcome, HttpResponse):
        return outcome
    tag = request.GET.get("tag", "").strip()[:200]
    entries, total = tag_services.tag_history(repository, tag or None, page=page_number(request), per_page=PER_PAGE)
    num_pages = max(1, -(-total // PER_PAGE))
    number = min(max(page_number(request), 1), num_pages)
    context = _base(request, repository, role, "history", entries=entries, tag=tag,
                    pager=pager(request, number, num_pages, total), days=settings.WHARF_TAG_HISTORY_DAYS)
    return page(request, "web/repository_history.html", context, outcome)


def _restore(request: HttpRequest, repository: Repository) -> Failed | None:
    form = RestoreForm(request.POST)
    failed = attempt("failed_form", form, lambda: tag_services.restore_tag(
        principal(request), repository, form.cleaned_data["tag"], form.cleaned_data["digest"],
        client_ip=client_ip(request)), FIELDS)
    if failed is None:
        messages.success(request, f"Restored the tag {form.cleaned_data['tag']} to {form.cleaned_data['digest']}.")
    return failed


# --- Manifest ----------------------------------------------------------------------------------------------------

@require_safe
def manifest(request: HttpRequest, full_name: str, digest: str) -> HttpResponse:
    repository, role = get_repository(request, full_name)
    try:
        detail = tag_services.manifest_detail(repository, digest)
    except ServiceError:
        raise Http404("No such manifest.") from None
    pull = commands.pull_command(request, repository.full_name, digest=detail.digest)
    # An image's artifact type is its config's media type: worth showing only for other artifacts.
    is_artifact = bool(detail.artifact_type) and detail.artifact_type not in IMAGE_CONFIGS
    manifest_id = Manifest.objects.filter(repository=repository, digest=detail.digest).values_list(
        "id", flat=True).first() or 0
    scan = summaries([manifest_id]).get(manifest_id)
    return render(request, "web/manifest.html", _base(request, repository, role, "tags", detail=detail, pull=pull,
                                                      is_artifact=is_artifact, scan=scan))

