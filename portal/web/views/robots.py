"""Robot accounts of a namespace (a user's or an organization's): the same actions on both pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from portal.accounts import services
from portal.accounts.models import Namespace, Robot
from portal.client_address import client_ip
from portal.repositories.models import RepositoryPermission
from portal.web import commands
from portal.web.forms import RobotForm
from portal.web.views.common import Failed, Handler, ask_first, attempt, confirmed, principal, show_secret


def robots_of(namespace: Namespace) -> QuerySet[Robot]:
    """The namespace's robots with the repositories each may use (what a person needs to see to prune them)."""
    grants = RepositoryPermission.objects.select_related("repository").order_by("repository__full_name")
    return Robot.objects.filter(namespace=namespace).prefetch_related(
        Prefetch("repository_permissions", queryset=grants))


def _robot(namespace: Namespace, request: HttpRequest) -> Robot:
    robot = Robot.objects.filter(namespace=namespace, name=request.POST.get("robot", "")).first()
    if robot is None:
        raise Http404("No such robot.")
    return robot


def _secret(request: HttpRequest, robot: Robot, token: str, verb: str, back: str) -> HttpResponse:
    return show_secret(request, {
        "title": f"Robot {robot.full_name} {verb}",
        "username": robot.full_name, "secret": token, "back": back,
        "login_hint": commands.login_command(request, robot.full_name, token),
    })


def create(request: HttpRequest, namespace: Namespace) -> HttpResponse | Failed | None:
    form = RobotForm(request.POST)
    made: dict[str, Any] = {}

    def call() -> None:
        made["robot"], made["token"] = services.create_robot(
            principal(request), namespace, form.cleaned_data["name"], form.cleaned_data["description"],
            client_ip=client_ip(request))

    failed = attempt("robot_form", form, call)
    if failed is not None:
        return failed
    return _secret(request, made["robot"], made["token"], "created", request.path)


def regenerate(request: HttpRequest, namespace: Namespace) -> HttpResponse:
    robot = _robot(namespace, request)
    if not confirmed(request):
        return ask_first(request, f"Regenerate the token of {robot.full_name}?",
                         "This breaks CI at once: the old token stops working now, and every CI job or script "
                         "that logs in with it fails until you give it the new token, shown once on the next page.",
                         "Regenerate token")
    token = services.regenerate_robot_token(principal(request), robot, client_ip=client_ip(request))
    return _secret(request, robot, token, "has a new token", request.path)


def delete(request: HttpRequest, namespace: Namespace) -> HttpResponse | None:
    robot = _robot(namespace, request)
    if not confirmed(request):
        return ask_first(request, f"Delete the robot {robot.full_name}?",
                         "Its token stops working at once: CI jobs and anything else that log in with it fail "
                         "from now on, and its repository permissions go with it. This cannot be undone.",
                         "Delete robot")
    services.delete_robot(principal(request), robot, client_ip=client_ip(request))
    messages.success(request, f"Deleted robot {robot.full_name}; its token no longer works.")
    return None


HANDLERS: dict[str, Handler[Namespace]] = {
    "robot_create": create, "robot_regenerate": regenerate, "robot_delete": delete,
}


def context(namespace: Namespace, form: forms.Form | None = None) -> dict[str, Any]:
    return {"namespace": namespace, "robots": robots_of(namespace), "robot_form": form or RobotForm()}
