"""Sign-up, sign-in and sign-out, password change and reset."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from portal import audit
from portal.access import Principal
from portal.accounts import credentials
from portal.accounts.models import User
from portal.client_address import client_ip
from portal.errors import AuthenticationFailed, ServiceError, Throttled
from portal.web import invitations
from portal.web.forms import LoginForm, PasswordResetForm, SignupForm
from portal.web.views.common import add_service_error, form_status, principal

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SIGNUP_FIELDS = {"name": "username", "password": "password1"}


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    invite = request.POST.get("invite") or request.GET.get("invite") or ""
    invitation = invitations.pending(invite) if invitations.invitation_only() else None
    if invitations.invitation_only() and invitation is None:
        return render(request, "web/signup_closed.html", {"had_invite": bool(invite)}, status=403)
    initial = {"invite": invite, "email": invitation.email if invitation else ""}
    form = SignupForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = invitations.sign_up(data["username"], data["email"], data["password1"], invite,
                                       client_ip=client_ip(request))
        except ServiceError as error:
            add_service_error(form, error, SIGNUP_FIELDS)
            status = form_status(error)
        else:
            django_login(request, user, backend=MODEL_BACKEND)
            messages.success(request, f"Welcome to Wharf, {user.username}. Your namespace is '{user.username}'.")
            return redirect("home")
    return render(request, "web/signup.html", {"form": form}, status=400 if form.errors and status == 200 else status)


def login(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    form = LoginForm(request.POST or None)
    retry_after = None
    if request.method == "POST" and form.is_valid():
        try:
            _sign_in(request, form.cleaned_data["username"], form.cleaned_data["password"])
        except Throttled as error:
            form.add_error(None, error.message)
            retry_after = error.retry_after
        except AuthenticationFailed as error:
            form.add_error(None, error.message)
        else:
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    github = bool(settings.SOCIAL_AUTH_GITHUB_KEY)
    response = render(request, "web/login.html", {"form": form, "next": next_url, "github": github},
                      status=429 if retry_after is not None else 400 if form.errors else 200)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _sign_in(request: HttpRequest, username: str, password: str) -> User:
    """A person with their password: robots and API tokens are refused as a wrong password (tokens are for tools)."""
    found = credentials.authenticate(client_ip(request), username, password, allow_robots=False, allow_tokens=False)
    if found.kind != "user":   # a backstop: authenticate() has already refused both
        raise AuthenticationFailed(credentials.INCORRECT)
    user = User.objects.get(pk=found.user_id or 0)
    django_login(request, user, backend=MODEL_BACKEND)
    audit.record("login", found, client_ip=client_ip(request), namespace_id=user.namespace.pk, target=user.username,
                 method="password")
    return user


def _safe_next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return ""


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    who = principal(request)
    if who.is_authenticated:
        user = request.user
        namespace_id = user.namespace.pk if isinstance(user, User) else None
        audit.record("logout", who, client_ip=client_ip(request), namespace_id=namespace_id, target=who.username)
    django_logout(request)
    messages.info(request, "You are signed out.")
    return redirect(settings.LOGOUT_REDIRECT_URL)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "web/password_change.html"
    success_url = reverse_lazy("settings")
    extra_context = {"tab": "password"}

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        user = form.user
        audit.record("password_change", Principal.for_user(user), client_ip=client_ip(self.request),
                     namespace_id=user.namespace.pk, target=user.username)
        messages.success(self.request, "Your password has been changed.")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form: Any) -> HttpResponse:
        # The link is built from the configured site, never from the request's Host: whoever sends the
        # request chooses that, and would receive the victim's reset token at a host of their own.
        self.extra_email_context = {"site_url": settings.WHARF_SITE_URL}
        self.domain_override = urlsplit(settings.WHARF_SITE_URL).netloc
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        user = form.user
        audit.record("password_reset", Principal.for_user(user), client_ip=client_ip(self.request),
                     namespace_id=user.namespace.pk, target=user.username)
        return response
