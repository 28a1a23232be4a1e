"""A repository's build triggers, for its admins: the list, creating one (GitHub picker or any git repository by
clone URL), and one trigger's page (settings, a new secret, recent deliveries, Start build, delete).

Readers who are not admins get 403, and people who may not read the repository 404, as on the settings page.
A git trigger's webhook secret is shown once, on the page that answers its creation (or its renewal), with
no-store; a secret build argument's value never comes back to the browser.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from builds import github, secrets, source, triggers
from builds import services as build_services
from builds.models import Build, Delivery, SourceKind, Trigger, TriggerKind
from portal.access import Role
from portal.client_address import client_ip
from portal.errors import ServiceError
from portal.repositories.models import Repository
from portal.web.build_forms import (
    GithubTriggerForm,
    GitTriggerForm,
    StartTriggerBuildForm,
    TriggerSettingsForm,
    build_args_text,
    hide_secret_values,
)
from portal.web.views.common import (
    Failed,
    Handler,
    add_service_error,
    ask_first,
    confirmed,
    handle_post,
    page,
    principal,
    user_of,
)
from portal.web.views.repositories import get_repository

RECENT_DELIVERIES = 3      # per trigger on the list
DELIVERIES = 20            # on a trigger's page
# The connect-for-builds flow (asks GitHub for the scopes builds need) names its view so; until it exists,
# the sign-in connection of the settings page.


def _admin_repository(request: HttpRequest, full_name: str) -> Repository:
    repository, _ = get_repository(request, full_name, need=Role.ADMIN)
    return repository


def _context(repository: Repository, **more: Any) -> dict[str, Any]:
    return {"repository": repository, "tab": "builds", "is_admin": True, "may_write": True, **more}


def _settings_data(form: TriggerSettingsForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {key: data[key] for key in ("dockerfile_path", "context_dir", "ref_filter", "default_branch",
                                       "tag_templates", "build_args", "platforms", "network", "enabled")}


def _failed(key: str, form: TriggerSettingsForm, error: ServiceError | None = None) -> Failed:
    if error is not None:
        add_service_error(form, error)
    hide_secret_values(form)
    status = 400 if error is None or error.status not in (403, 429, 503) else error.status
    return Failed(key, form, status)


# --- The list ---------------------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "HEAD"])
def trigger_list(request: HttpRequest, full_name: str) -> HttpResponse:
    repository = _admin_repository(request, full_name)
    rows = list(Trigger.objects.filter(repository=repository))
    recent: dict[int, list[Delivery]] = {row.pk: [] for row in rows}
    # The last few deliveries of each, from one query over the newest (a trigger with none shows none).
    for delivery in Delivery.objects.filter(trigger__in=rows).order_by("-id")[:RECENT_DELIVERIES * 20]:
        if len(recent[delivery.trigger_id]) < RECENT_DELIVERIES:
            recent[delivery.trigger_id].append(delivery)
    return render(request, "web/triggers.html", _context(
        repository, triggers=[(row, recent[row.pk]) for row in rows]))


# --- Creating ---------------------------------------------------------------------------------------------------

def connect_url(request: HttpRequest) -> str:
    """GitHub's sign-in, asking also for the scopes builds need (portal/accounts/github.py reads `for=builds`);
    the form posts `next` (this page) in its body, where social-auth looks for it."""
    return reverse("social:begin", args=["github"])


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def trigger_new(request: HttpRequest, full_name: str) -> HttpResponse:
    repository = _admin_repository(request, full_name)
    kind = request.POST.get("kind") or request.GET.get("kind") or TriggerKind.GIT
    if kind == TriggerKind.GITHUB:
        return _new_github(request, repository)
    form = GitTriggerForm(request.POST or None, initial={"enabled": True})
    if request.method == "POST":
        outcome = _create(request, repository, form, TriggerKind.GIT)
        if isinstance(outcome, HttpResponse):
            return outcome
        return page(request, "web/trigger_new.html", _context(repository, kind="git"), outcome)
    return render(request, "web/trigger_new.html", _context(repository, kind="git", form=form))


def _new_github(request: HttpRequest, repository: Repository) -> HttpResponse:
    """Connect GitHub; pick an owner (?owner=), then one of its repositories (?repository=); then the settings."""
    user = user_of(request)
    context = _context(repository, kind="github", connect_url=connect_url(request))
    if not settings.SOCIAL_AUTH_GITHUB_KEY:
        return render(request, "web/trigger_new.html", {**context, "github_missing": True})
    try:
        if not github.connected(user):
            return render(request, "web/trigger_new.html", {**context, "connected": False})
        owners = github.organizations(user)
        owner = request.GET.get("owner") or (owners[0] if owners else "")
        choices = github.repositories(user, owner) if owner in owners else []
    except github.GithubError as error:
        messages.error(request, str(error))
        return render(request, "web/trigger_new.html", {**context, "connected": True, "owners": []})
    picked = next((r for r in choices if r.full_name == request.GET.get("repository")), None)
    context.update(connected=True, owners=owners, owner=owner, choices=choices, picked=picked)
    if request.method == "POST":
        form = GithubTriggerForm(request.POST)
        outcome = _create(request, repository, form, TriggerKind.GITHUB)
        if isinstance(outcome, HttpResponse):
            return outcome
        return page(request, "web/trigger_new.html", {**context, "picked": True}, outcome)
    if picked is not None:
        context["form"] = GithubTriggerForm(initial={"github_repository": picked.full_name, "enabled": True,
                                                     "default_branch": picked.default_branch})
    return render(request, "web/trigger_new.html", context)


def _create(request: HttpRequest, repository: Repository, form: TriggerSettingsForm,
            kind: str) -> HttpResponse | Failed:
    if not form.is_valid():
        return _failed("form", form)
    data = {"kind": kind, **_settings_data(form)}
    if kind == TriggerKind.GIT:
        data.update(clone_url=form.cleaned_data["clone_url"], deploy_key=form.cleaned_data["deploy_key"])
    else:
        data["github_repository"] = form.cleaned_data["github_repository"]
    try:
        created = triggers.create_trigger(repository, principal(request), data, client_ip(request))
    except ServiceError as error:
        return _failed("form", form, error)
    if kind == TriggerKind.GITHUB:
        messages.success(request, f"Created the trigger: pushes to {created.trigger.github_repository} build "
                                  f"{repository.full_name}.")
        return redirect("repository_trigger", repository.full_name, created.trigger.pk)
    return _show_secret(request, repository, created.trigger, created.secret, "created")


def _show_secret(request: HttpRequest, repository: Repository, trigger: Trigger, secret: str,
                 verb: str) -> HttpResponse:
    response = render(request, "web/trigger_secret.html", _context(
        repository, trigger=trigger, secret=secret, verb=verb, webhook_url=triggers.webhook_url(trigger),
        back=reverse("repository_trigger", args=[repository.full_name, trigger.pk])))
    response["Cache-Control"] = "no-store"
    return response


# --- One trigger ------------------------------------------------------------------------------------------------

def _trigger(repository: Repository, trigger_id: str) -> Trigger:
    trigger = Trigger.objects.filter(pk=int(trigger_id), repository=repository).select_related("created_by").first()
    if trigger is None:
        raise Http404("No such trigger.")
    trigger.repository = repository
    return trigger


def settings_initial(trigger: Trigger) -> dict[str, Any]:
    return {"dockerfile_path": trigger.dockerfile_path, "context_dir": trigger.context_dir,
            "ref_filter": trigger.ref_filter, "default_branch": trigger.default_branch,
            "tag_templates": ", ".join(trigger.tag_templates),
            "build_args": build_args_text(build_services.shown_build_args(trigger.build_args)),
            "platforms": trigger.platforms, "network": trigger.network, "enabled": trigger.enabled}


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def trigger(request: HttpRequest, full_name: str, trigger_id: str) -> HttpResponse:
    repository = _admin_repository(request, full_name)
    item = _trigger(repository, trigger_id)
    outcome = handle_post(request, TRIGGER_HANDLERS, item)
    if isinstance(outcome, HttpResponse):
        return outcome
    deliveries = Delivery.objects.filter(trigger=item).select_related("build")[:DELIVERIES]
    recent_builds = Build.objects.filter(trigger=item)[:5]
    context = _context(repository, trigger=item, deliveries=deliveries, recent_builds=recent_builds,
                       webhook_url=triggers.webhook_url(item),
                       settings_form=TriggerSettingsForm(initial=settings_initial(item)),
                       start_form=StartTriggerBuildForm())
    return page(request, "web/trigger.html", context, outcome if isinstance(outcome, Failed) else None)


def _update(request: HttpRequest, item: Trigger) -> Failed | None:
    form = TriggerSettingsForm(request.POST)
    if not form.is_valid():
        return _failed("settings_form", form)
    try:
        triggers.update_trigger(item, principal(request), _settings_data(form), client_ip(request))
    except ServiceError as error:
        return _failed("settings_form", form, error)
    messages.success(request, "Saved the trigger's settings.")
    return None


def _new_secret(request: HttpRequest, item: Trigger) -> HttpResponse | None:
    if not confirmed(request):
        return ask_first(request, "Make a new webhook secret?",
                         f"The current secret stops working at once: deliveries from {item.source_name} are "
                         "refused until the new one is set in its webhook.", "Make a new secret")
    try:
        secret = triggers.new_secret(item, principal(request), client_ip(request))
    except ServiceError as error:
        messages.error(request, error.message)
        return None
    return _show_secret(request, item.repository, item, secret, "has a new secret")


def _start(request: HttpRequest, item: Trigger) -> HttpResponse | Failed | None:
    form = StartTriggerBuildForm(request.POST)
    if not form.is_valid():
        return Failed("start_form", form)
    commit = form.cleaned_data["commit"].lower()
    ref = f"refs/heads/{item.default_branch}"
    try:
        if not commit:
            key = secrets.decrypt(item.deploy_key_encrypted) if item.deploy_key_encrypted else None
            commit = source.resolve(item.clone_url, ref, deploy_key=key)
        build = build_services.queue_build(item.repository, principal(request), build_services.Source(
            kind=SourceKind.GIT, trigger=item, commit_sha=commit, ref=ref), client_ip=client_ip(request))
    except source.SourceError as error:
        form.add_error("commit", f"Could not read {item.default_branch} of {item.source_name}: {error}")
        return Failed("start_form", form)
    except ServiceError as error:
        add_service_error(form, error, {"tags": "commit"})
        return Failed("start_form", form, error.status if error.status in (409, 429, 503) else 400)
    messages.success(request, f"Build {build.pk} is queued.")
    return redirect("repository_build", item.repository.full_name, build.pk)


def _delete(request: HttpRequest, item: Trigger) -> HttpResponse | None:
    if not confirmed(request):
        return ask_first(request, f"Delete the trigger for {item.source_name}?",
                         "Pushes there build nothing from now on. Its builds stay, without the trigger"
                         + (", and Wharf removes its webhook and deploy key on GitHub." if item.kind == "github"
                            else "; remove the webhook on the git host too."), "Delete trigger")
    repository = item.repository
    for warning in triggers.delete_trigger(item, principal(request), client_ip(request)):
        messages.warning(request, warning)
    messages.success(request, f"Deleted the trigger for {item.source_name}.")
    return redirect("repository_triggers", repository.full_name)


TRIGGER_HANDLERS: dict[str, Handler[Trigger]] = {"update": _update, "new_secret": _new_secret, "start": _start,
                                                 "delete": _delete}
