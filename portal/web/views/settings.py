"""The signed-in user's settings: profile, GitHub connection, API tokens, and the user's robot accounts."""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST
from social_core.exceptions import AuthPolicyError
from social_django.utils import load_backend, load_strategy

from portal import audit
from portal.accounts import services
from portal.accounts.models import ApiToken
from portal.client_address import client_ip
from portal.web import commands
from portal.web.forms import EmailForm, TokenForm
from portal.web.views import robots
from portal.web.views.common import Failed, Handler, attempt, handle_post, page, principal, show_secret, user_of

TOKEN_FIELDS = {"expires_at": "expires_on"}


@login_required
def settings(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    outcome = handle_post(request, HANDLERS, None)
    if isinstance(outcome, HttpResponse):
        return outcome
    github = user.social_auth.filter(provider="github").first()  # type: ignore[attr-defined]
    context: dict[str, Any] = {
        "tab": "profile", "email_form": EmailForm(initial={"email": user.email}), "token_form": TokenForm(),
        "tokens": ApiToken.objects.filter(user=user), "now": timezone.now(),
        "github": github, "github_enabled": bool(django_settings.SOCIAL_AUTH_GITHUB_KEY),
    }
    return page(request, "web/settings.html", context, outcome)


def _email(request: HttpRequest, _: None) -> Failed | None:
    form = EmailForm(request.POST)
    failed = attempt("email_form", form, lambda: services.change_email(user_of(request), form.cleaned_data["email"]))
    if failed is None:
        messages.success(request, "Your e-mail address has been saved.")
    return failed


def _token_create(request: HttpRequest, _: None) -> HttpResponse | Failed:
    form = TokenForm(request.POST)
    made: dict[str, Any] = {}

    def call() -> None:
        made["token"], made["secret"] = services.create_api_token(
            principal(request), user_of(request), form.cleaned_data["name"], form.cleaned_data["scopes"],
            form.expires_at(), client_ip=client_ip(request))

    failed = attempt("token_form", form, call, TOKEN_FIELDS)
    if failed is not None:
        return failed
    token, secret = made["token"], made["secret"]
    return show_secret(request, {
        "title": f"API token '{token.name}' created", "secret": secret, "back": request.path, "token": token,
        "login_hint": commands.login_command(request, token.user.username, secret),
    })


def _token_revoke(request: HttpRequest, _: None) -> None:
    token = ApiToken.objects.filter(user=user_of(request), pk=_int(request.POST.get("token"))).first()
    if token is None:
        raise Http404("No such token.")
    services.revoke_api_token(principal(request), token, client_ip=client_ip(request))
    messages.success(request, f"Revoked the token '{token.name}'.")


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


HANDLERS: dict[str, Handler[None]] = {"email": _email, "token_create": _token_create, "token_revoke": _token_revoke}


@login_required
@require_POST
def github_disconnect(request: HttpRequest) -> HttpResponse:
    """social-auth's disconnect, plus the audit entry (and a message when it would lock the user out)."""
    user = user_of(request)
    if not user.social_auth.filter(provider="github").exists():  # type: ignore[attr-defined]
        messages.info(request, "No GitHub account is connected.")
        return redirect("settings")
    backend = load_backend(load_strategy(request), "github", redirect_uri=None)
    try:
        backend.disconnect(user=user)
    except AuthPolicyError:
        messages.error(request, "Set a password first: GitHub is the only way you can sign in.")
        return redirect("settings")
    audit.record("github_disconnect", principal(request), client_ip=client_ip(request), namespace_id=user.namespace.pk,
                 target=user.username)
    messages.success(request, "Your GitHub account is no longer connected.")
    return redirect("settings")


@login_required
def user_robots(request: HttpRequest) -> HttpResponse:
    namespace = user_of(request).namespace
    outcome = handle_post(request, robots.HANDLERS, namespace)
    if isinstance(outcome, HttpResponse):
        return outcome
    return page(request, "web/user_robots.html", {"tab": "robots", **robots.context(namespace)}, outcome)
