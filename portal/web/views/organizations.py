"""Organization pages: overview and members, teams, robots, default permissions and the audit log.

Who sees what: a non-member gets 404 on every page (an organization's members and teams are its own
business); a member sees members and teams read-only and gets 403 on the admin pages (robots, default
permissions, logs) and on every change; an admin sees and changes everything.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from portal import access
from portal.accounts import services
from portal.accounts.models import Organization, Team, TeamMember, TeamRole
from portal.audit.models import LogEntry
from portal.client_address import client_ip
from portal.errors import ServiceError
from portal.repositories import services as repo_services
from portal.repositories.models import DefaultPermission
from portal.web.forms import ConfirmForm, GrantForm, MemberForm, NameForm, TeamForm, TeamRoleForm
from portal.web.views import robots, scan_policy
from portal.web.views.common import (
    Failed,
    Handler,
    act,
    add_service_error,
    ask_first,
    attempt,
    confirmed,
    handle_post,
    page,
    principal,
)
from portal.web.views.grants import ROLE_NAMES, grant_rows
from portal.web.views.logs import log_context


def _organization(request: HttpRequest, name: str, admin: bool = False) -> tuple[Organization, int]:
    """The organization and the caller's role in it; 404 for non-members, 403 for members on admin pages."""
    organization = Organization.objects.select_related("namespace").filter(name=name).first()
    role = access.organization_role(principal(request), organization) if organization is not None else 0
    if organization is None or role == 0:
        raise Http404("No such organization.")
    if (admin or request.method == "POST") and role < TeamRole.ADMIN:
        raise PermissionDenied("Only the organization's admins may do that.")
    return organization, role


def _context(organization: Organization, role: int, tab: str, **more: Any) -> dict[str, Any]:
    return {"organization": organization, "is_admin": role >= TeamRole.ADMIN, "tab": tab,
            "may_create": role >= TeamRole.CREATOR, **more}


@login_required
def organization_new(request: HttpRequest) -> HttpResponse:
    form = NameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.create_organization(principal(request), form.cleaned_data["name"],
                                                        client_ip=client_ip(request))
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Created the organization {organization.name}; you are in its owners team.")
            return redirect("organization", organization.name)
    return render(request, "web/organization_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def organization(request: HttpRequest, name: str) -> HttpResponse:
    """The overview: members and their teams (and, for admins, deleting the organization)."""
    organization, role = _organization(request, name)
    failed = None
    if request.method == "POST":
        form = ConfirmForm(request.POST, expected=organization.name)
        failed = attempt("delete_form", form, lambda: services.delete_organization(
            principal(request), organization, client_ip=client_ip(request)))
        if failed is None:
            messages.success(request, f"Deleted the organization {name} and its repositories.")
            return redirect("home")
    teams_of: dict[Any, list[Team]] = defaultdict(list)
    memberships = TeamMember.objects.filter(team__organization=organization).select_related("user", "team")
    for membership in memberships.order_by("user__username", "team__name"):
        teams_of[membership.user].append(membership.team)
    repositories = access.readable_repositories(principal(request)).filter(
        namespace=organization.namespace).order_by("full_name")
    context = _context(organization, role, "members", members=sorted(teams_of.items(), key=lambda i: i[0].username),
                       repositories=repositories, delete_form=ConfirmForm(expected=organization.name))
    return page(request, "web/organization.html", context, failed)


@login_required
def teams(request: HttpRequest, name: str) -> HttpResponse:
    organization, role = _organization(request, name)
    failed = None
    if request.method == "POST":
        form = TeamForm(request.POST)
        failed = attempt("team_form", form, lambda: services.create_team(
            principal(request), organization, form.cleaned_data["name"], form.cleaned_data["role"],
            form.cleaned_data["description"], client_ip=client_ip(request)))
        if failed is None:
            messages.success(request, f"Created the team {form.cleaned_data['name']}.")
            return redirect("team", organization.name, form.cleaned_data["name"])
    team_list = organization.teams.annotate(member_count=Count("memberships"))
    context = _context(organization, role, "teams", teams=team_list, team_form=TeamForm())
    return page(request, "web/organization_teams.html", context, failed)


@login_required
def team(request: HttpRequest, name: str, team_name: str) -> HttpResponse:
    organization, role = _organization(request, name)
    the_team = Team.objects.filter(organization=organization, name=team_name).first()
    if the_team is None:
        raise Http404("No such team.")
    outcome = handle_post(request, TEAM_HANDLERS, the_team)
    if isinstance(outcome, HttpResponse):
        return outcome
    members = the_team.memberships.select_related("user").order_by("user__username")
    context = _context(organization, role, "teams", team=the_team, members=members, member_form=MemberForm(),
                       role_form=TeamRoleForm(initial={"role": TeamRole(the_team.role).label}),
                       grants=the_team.repository_permissions.select_related("repository")
                       .order_by("repository__full_name"))
    return page(request, "web/team.html", context, outcome)


def _member_add(request: HttpRequest, team: Team) -> Failed | None:
    form = MemberForm(request.POST)
    failed = attempt("member_form", form, lambda: services.add_team_member(
        principal(request), team, form.cleaned_data["username"], client_ip=client_ip(request)))
    if failed is None:
        messages.success(request, f"Added {form.cleaned_data['username']} to {team.name}.")
    return failed


def _member_remove(request: HttpRequest, team: Team) -> None:
    username = request.POST.get("username", "")
    act(request, lambda: services.remove_team_member(principal(request), team, username, client_ip=client_ip(request)),
        f"Removed {username} from {team.name}.")


def _team_role(request: HttpRequest, team: Team) -> Failed | None:
    form = TeamRoleForm(request.POST)
    failed = attempt("role_form", form, lambda: services.update_team(
        principal(request), team, role=form.cleaned_data["role"], client_ip=client_ip(request)))
    if failed is None:
        messages.success(request, f"{team.name} now has the role {TeamRole(team.role).label}.")
    return failed


def _team_delete(request: HttpRequest, team: Team) -> HttpResponse | None:
    if not confirmed(request):
        members, grants = team.memberships.count(), team.repository_permissions.count()
        return ask_first(request, f"Delete the team {team.name}?",
                         f"Its {members} member{'s' if members != 1 else ''} lose{'s' if members == 1 else ''} what "
                         f"the team gives them at once: its role in {team.organization.name} and its permissions on "
                         f"{grants} repositor{'ies' if grants != 1 else 'y'}. This cannot be undone.",
                         "Delete team")
    try:
        services.delete_team(principal(request), team, client_ip=client_ip(request))
    except ServiceError as error:
        messages.error(request, error.message)
        return None
    messages.success(request, f"Deleted the team {team.name}.")
    return redirect("organization_teams", team.organization.name)


TEAM_HANDLERS: dict[str, Handler[Team]] = {
    "member_add": _member_add, "member_remove": _member_remove, "role": _team_role, "delete": _team_delete,
}


@login_required
def organization_robots(request: HttpRequest, name: str) -> HttpResponse:
    organization, role = _organization(request, name, admin=True)
    outcome = handle_post(request, robots.HANDLERS, organization.namespace)
    if isinstance(outcome, HttpResponse):
        return outcome
    context = _context(organization, role, "robots", **robots.context(organization.namespace))
    return page(request, "web/organization_robots.html", context, outcome)


@login_required
def default_permissions(request: HttpRequest, name: str) -> HttpResponse:
    organization, role = _organization(request, name, admin=True)
    outcome = handle_post(request, DEFAULT_HANDLERS, organization)
    if isinstance(outcome, HttpResponse):
        return outcome
    defaults = DefaultPermission.objects.filter(organization=organization).select_related("user", "team", "robot")
    context = _context(organization, role, "defaults", rows=grant_rows(defaults, organization.namespace),
                       grant_form=GrantForm(), roles=ROLE_NAMES, **scan_policy.context(organization.namespace))
    return page(request, "web/organization_defaults.html", context, outcome)


def _default_set(request: HttpRequest, organization: Organization) -> Failed | None:
    form = GrantForm(request.POST)
    failed = attempt("grant_form", form, lambda: repo_services.set_default_permission(
        principal(request), organization.namespace, form.cleaned_data["kind"], form.cleaned_data["who"],
        form.cleaned_data["role"], client_ip=client_ip(request)))
    if failed is None:
        messages.success(request, f"New repositories will give {form.cleaned_data['who']} "
                                  f"the role {form.cleaned_data['role']}.")
    return failed


def _default_delete(request: HttpRequest, organization: Organization) -> HttpResponse | None:
    kind, who = request.POST.get("kind", ""), request.POST.get("who", "")
    if not confirmed(request):
        return ask_first(request, f"Remove the default permission of {who}?",
                         f"New repositories in {organization.name} will no longer give {who} a role. Repositories "
                         "that exist keep the permissions they have.", "Remove")
    act(request, lambda: repo_services.delete_default_permission(principal(request), organization.namespace,
                                                                 kind, who, client_ip=client_ip(request)),
        f"Removed the default permission of {who}.")
    return None


DEFAULT_HANDLERS: dict[str, Handler[Organization]] = {
    "set": _default_set, "delete": _default_delete,
    "scan_policy": lambda request, org: scan_policy.save(request, org.namespace),
    "scan_policy_clear": lambda request, org: scan_policy.clear(request, org.namespace),
}


@login_required
@require_safe
def logs(request: HttpRequest, name: str) -> HttpResponse:
    organization, role = _organization(request, name, admin=True)
    context, status = log_context(request, LogEntry.objects.filter(namespace=organization.namespace))
    return render(request, "web/organization_logs.html", _context(organization, role, "logs", show_repository=True,
                                                                  **context), status=status)
