"""What every page shares: who is asking, service errors shown on forms, and pages with several forms.

A page with several forms posts them all to its own URL with a hidden `action` field. Each action's
handler returns None when it worked (the page then redirects to itself: POST-redirect-GET), a `Failed`
(the page is drawn again with that one form bound and showing its errors, status 400), or a response of
its own (a secret shown once, or the question a destructive action asks first).

Destructive actions ask first without JavaScript: posted without `confirm=1`, they change nothing and answer
with a page that says what will happen and posts the same fields again with `confirm=1` (see `ask_first`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render

from portal.access import Principal
from portal.accounts.models import User
from portal.errors import ServiceError

T = TypeVar("T")
LOG_PAGE_SIZE = 50   # audit-log entries per page


def principal(request: HttpRequest) -> Principal:
    return Principal.for_user(request.user)


def user_of(request: HttpRequest) -> User:
    """The signed-in user of a login_required page."""
    user = request.user
    assert isinstance(user, User)
    return user


def add_service_error(form: forms.Form, error: ServiceError, fields: Mapping[str, str] | None = None) -> None:
    """Show a service's message next to the field it names (renamed through `fields`), else above the form."""
    name = (fields or {}).get(error.field or "", error.field)
    form.add_error(name if name in form.fields else None, error.message)


def form_status(error: ServiceError) -> int:
    """A form the service refused is a 400 (bad, taken or unknown names alike), or a 403 if the person may not."""
    return 403 if error.status == 403 else 400


@dataclass
class Failed:
    """An action's form came back with errors; the page shows it in place of the blank one at `key`."""

    key: str
    form: forms.Form
    status: int = 400


Outcome = HttpResponse | Failed | None
Handler = Callable[[HttpRequest, T], Outcome]


def handle_post(request: HttpRequest, handlers: Mapping[str, Handler[T]], target: T) -> Outcome:
    """None for a GET; for a POST, the response to send (a redirect back to the page when the action worked)
    or the `Failed` form to draw the page with."""
    if request.method != "POST":
        return None
    handler = handlers.get(request.POST.get("action", ""))
    if handler is None:
        return HttpResponseBadRequest("Unknown action.")
    outcome = handler(request, target)
    return redirect(request.get_full_path()) if outcome is None else outcome


def attempt(key: str, form: forms.Form, call: Callable[[], Any],
            fields: Mapping[str, str] | None = None) -> Failed | None:
    """Validate `form`, then run `call` (a service); a refusal becomes the form's error."""
    if not form.is_valid():
        return Failed(key, form)
    try:
        call()
    except ServiceError as error:
        add_service_error(form, error, fields)
        return Failed(key, form, form_status(error))
    return None


def act(request: HttpRequest, call: Callable[[], Any], success: str) -> None:
    """For buttons without fields (remove, delete): a refusal becomes an error message on the page."""
    try:
        call()
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)


def page(request: HttpRequest, template: str, context: dict[str, Any], failed: Failed | None = None) -> HttpResponse:
    if failed is not None:
        context[failed.key] = failed.form
    return render(request, template, context, status=failed.status if failed else 200)


def confirmed(request: HttpRequest) -> bool:
    """True when a destructive action's POST is the second one, sent from the page `ask_first` drew."""
    return request.POST.get("confirm") == "1"


def ask_first(request: HttpRequest, question: str, consequence: str, button: str) -> HttpResponse:
    """The page asking whether to go on: a form re-posting the request's fields with confirm=1, and Cancel.

    The answer is the same URL and fields, so the handler that asked runs again and this time acts; nothing is
    kept between the two requests."""
    fields = [(key, value) for key, values in request.POST.lists()
              if key not in ("csrfmiddlewaretoken", "confirm") for value in values]
    return render(request, "web/confirm.html", {"question": question, "consequence": consequence,
                                                "button": button, "fields": fields,
                                                "back": request.get_full_path()})


def show_secret(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """The page that shows a new token once; it must not be cached anywhere on the way back."""
    response = render(request, "web/secret.html", context)
    response["Cache-Control"] = "no-store"
    return response
