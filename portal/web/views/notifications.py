"""A repository's notifications, for its admins (reached from the Settings tab): the list with the create form,
and one notification's page (its delivery log, Send test notification, Redeliver, enable/disable, edit,
delete); and the signed-in user's inbox.

Readers who are not admins get 403, people who may not read the repository 404, as on the settings page. A
webhook's signing secret is shown once, on the page that answers its creation, with no-store."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from notifications import services
from notifications.models import Delivery, Method, Notification
from portal.access import Role
from portal.client_address import client_ip
from portal.errors import ServiceError
from portal.repositories.models import Repository
from portal.web.notification_forms import FILTER_FIELDS, NotificationEditForm, NotificationForm
from portal.web.views.common import (
    Failed,
    Handler,
    act,
    add_service_error,
    ask_first,
    confirmed,
    form_status,
    handle_post,
    page,
    principal,
    user_of,
)
from portal.web.views.repositories import get_repository

DELIVERIES = 30      # on a notification's page
INBOX_PAGE = 100


def _admin_repository(request: HttpRequest, full_name: str) -> Repository:
    repository, _ = get_repository(request, full_name, need=Role.ADMIN)
    return repository


def _context(repository: Repository, **more: Any) -> dict[str, Any]:
    return {"repository": repository, "tab": "settings", "is_admin": True, **more}


# --- The list and the create form -------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def notification_list(request: HttpRequest, full_name: str) -> HttpResponse:
    repository = _admin_repository(request, full_name)
    failed = None
    if request.method == "POST":
        outcome = _create(request, repository)
        if isinstance(outcome, HttpResponse):
            return outcome
        failed = outcome
    rows = Notification.objects.filter(repository=repository).select_related("target_user", "target_team")
    return page(request, "web/notifications.html", _context(
        repository, notifications=rows, form=NotificationForm(initial={"event": "repo_push"})), failed)


def _create(request: HttpRequest, repository: Repository) -> HttpResponse | Failed:
    form = NotificationForm(request.POST)
    if not form.is_valid():
        return Failed("form", form)
    data = form.cleaned_data
    try:
        named = services.targets_named(repository, data["target_user"], data["target_team"])
        created = services.create_notification(
            repository, principal(request), event=data["event"], method=data["method"], target=data["target"],
            filter=form.filter(), title=data["title"], client_ip=client_ip(request), **named)
    except ServiceError as error:
        add_service_error(form, error, {"filter": ""})   # above the form: any filter field
        return Failed("form", form, form_status(error))
    notification = created.notification
    back = reverse("repository_notification", args=[repository.full_name, notification.pk])
    if created.secret:
        response = render(request, "web/notification_secret.html", _context(
            repository, notification=notification, secret=created.secret, back=back))
        response["Cache-Control"] = "no-store"
        return response
    if notification.method == Method.EMAIL:
        messages.success(request, f"Created. A confirmation link was mailed to {notification.target}; nothing "
                                  "else is sent there until it is followed.")
    else:
        messages.success(request, "Created the notification.")
    return redirect(back)


# --- One notification -------------------------------------------------------------------------------------------

def _notification(repository: Repository, notification_id: str) -> Notification:
    found = (Notification.objects.select_related("target_user", "target_team", "created_by")
             .filter(pk=int(notification_id), repository=repository).first())
    if found is None:
        raise Http404("No such notification.")
    found.repository = repository
    return found


def _edit_initial(notification: Notification) -> dict[str, Any]:
    return {"target": notification.target if notification.method != Method.INAPP else "",
            "title": notification.title, **{key: notification.filter.get(key) for key in FILTER_FIELDS}}


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def notification(request: HttpRequest, full_name: str, notification_id: str) -> HttpResponse:
    repository = _admin_repository(request, full_name)
    item = _notification(repository, notification_id)
    outcome = handle_post(request, NOTIFICATION_HANDLERS, item)
    if isinstance(outcome, HttpResponse):
        return outcome
    context = _context(repository, notification=item, deliveries=services.deliveries(item)[:DELIVERIES],
                       open_deliveries=services.open_deliveries(item), failures=services.reveal_failures(item),
                       edit_form=NotificationEditForm(initial=_edit_initial(item)))
    return page(request, "web/notification.html", context, outcome)


def _test(request: HttpRequest, item: Notification) -> None:
    act(request, lambda: services.send_test(item, principal(request), client_ip(request)),
        "Sent a test notification: its attempt shows in the delivery log below.")


def _redeliver(request: HttpRequest, item: Notification) -> None:
    original = Delivery.objects.filter(pk=_int(request.POST.get("delivery")), notification=item).first()
    if original is None:
        messages.error(request, "That delivery is not in this notification's log.")
        return
    act(request, lambda: services.redeliver(original, principal(request), client_ip(request)),
        "Queued the redelivery: it shows in the delivery log below.")


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 19 else 0


def _enable(request: HttpRequest, item: Notification) -> None:
    enabled = request.POST.get("enabled") == "1"
    act(request, lambda: services.update_notification(item, principal(request), {"enabled": enabled},
                                                      client_ip(request)),
        "Enabled the notification." if enabled else "Disabled the notification.")


def _update(request: HttpRequest, item: Notification) -> Failed | None:
    form = NotificationEditForm(request.POST)
    if not form.is_valid():
        return Failed("edit_form", form)
    changes: dict[str, Any] = {"title": form.cleaned_data["title"], "filter": form.filter()}
    if item.method != Method.INAPP:
        changes["target"] = form.cleaned_data["target"]
    try:
        services.update_notification(item, principal(request), changes, client_ip(request))
    except ServiceError as error:
        add_service_error(form, error, {"filter": ""})   # above the form: any filter field
        return Failed("edit_form", form, form_status(error))
    messages.success(request, "Saved the notification.")
    return None


def _delete(request: HttpRequest, item: Notification) -> HttpResponse:
    if not confirmed(request):
        return ask_first(request, f"Delete the {item.method} notification on {item.event}?",
                         "Nothing more is sent for it, and its delivery log goes with it.", "Delete notification")
    repository = item.repository
    services.delete_notification(item, principal(request), client_ip(request))
    messages.success(request, "Deleted the notification.")
    return redirect("repository_notifications", repository.full_name)


NOTIFICATION_HANDLERS: dict[str, Handler[Notification]] = {
    "test": _test, "redeliver": _redeliver, "enable": _enable, "update": _update, "delete": _delete}


# --- The inbox --------------------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def inbox(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    if request.method == "POST":
        ids = [_int(value) for value in request.POST.getlist("message")] or None
        marked = services.mark_read(user, ids)
        messages.success(request, f"Marked {marked} message{'s' if marked != 1 else ''} read.")
        return redirect("inbox")
    rows = services.inbox(user).select_related("notification__repository")[:INBOX_PAGE]
    return render(request, "web/inbox.html", {"inbox_messages": rows})
