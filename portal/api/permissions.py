"""Who may do what through the API: thin lookups over portal.access that turn a refusal into the right error.

The order of checks is the enumeration rule: something the caller may not see answers 404 with the same
body as something missing; something it may see but not change answers 403 (or 401 when nobody signed in),
with a message that says what is missing (a role, a scope, or a person rather than a robot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, NoReturn

from rest_framework import exceptions

from portal import access
from portal.access import ANONYMOUS, Principal, Role
from portal.accounts.models import Namespace, Organization, Team
from portal.errors import Forbidden, NotFound
from portal.repositories.models import Repository


def caller(request: Any) -> Principal:
    """The request's principal (set by portal.api.authentication), ANONYMOUS when nobody signed in."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Principal) else ANONYMOUS


def refuse(principal: Principal, what: str, scope: str | None = None,
           would_allow: Callable[[Principal], bool] | None = None, reason: str = "",
           robots_may: bool = False) -> NoReturn:
    """401 for nobody, else 403 naming what is missing: a scope the token lacks, a person, or a role."""
    if not principal.is_authenticated:
        raise exceptions.NotAuthenticated(f"Authentication is required to {what}.")
    if scope and principal.scopes is not None and would_allow is not None \
            and would_allow(replace(principal, scopes=None)):
        raise Forbidden(f"This API token lacks the {scope} scope, which is needed to {what}.")
    if principal.is_robot and not robots_may:
        raise Forbidden(f"Robot accounts cannot {what}.")
    raise Forbidden(f"You may not {what}{reason}.")


def require(request: Any, allowed: Callable[[Principal], bool], what: str, scope: str | None = None,
            reason: str = "") -> Principal:
    """The caller, if `allowed(caller)`; otherwise the refusal that fits (see `refuse`)."""
    principal = caller(request)
    if not allowed(principal):
        refuse(principal, what, scope, allowed, reason)
    return principal


def require_person(request: Any, what: str, scope: str) -> Principal:
    """A person (not a robot), signed in with full rights or through a token holding `scope`."""
    return require(request, lambda p: p.is_person and p.is_active and p.has_scope(scope), what, scope)


def require_superuser(request: Any, what: str) -> Principal:
    """A superuser (a person, with full rights); to anyone else signed in the route does not exist."""
    principal = caller(request)
    if not principal.is_authenticated:
        refuse(principal, what)
    if not (principal.is_superuser and principal.is_person and principal.is_active):
        # As for any route that does not exist (portal.api.base.not_found).
        raise NotFound("There is no such API route; check the path (API paths end in a slash) in /api/v1/docs/.")
    return principal


# --- Repositories -----------------------------------------------------------------------------------------------

ROLE_WORDS = {Role.READ: "read", Role.WRITE: "write", Role.ADMIN: "admin"}
ROLE_SCOPES = {Role.READ: "repo:read", Role.WRITE: "repo:write", Role.ADMIN: "repo:admin"}


def repository_for(request: Any, namespace: str, name: str, need: Role, what: str) -> tuple[Repository, Role]:
    """The repository `namespace/name` and the caller's role on it, when that role is at least `need`.

    A private repository the caller may not read gives exactly the 404 a missing one gives.
    """
    principal = caller(request)
    full_name = f"{namespace}/{name}"
    repository = Repository.objects.select_related("namespace").filter(full_name=full_name).first()
    role = access.repository_role(principal, repository, full_name) if repository is not None else Role.NONE
    if repository is None or role < Role.READ:
        raise NotFound(f"The repository '{full_name}' does not exist, or you may not see it.")
    if role < need:
        refuse(principal, what, ROLE_SCOPES[need],
               lambda full: access.repository_role(full, repository, full_name) >= need,
               f": that needs the {ROLE_WORDS[need]} role on '{full_name}' and you have {ROLE_WORDS[role]}",
               robots_may=True)
    return repository, role


# --- Namespaces and organizations ----------------------------------------------------------------------------

def namespace_named(name: str) -> Namespace:
    """User and organization names are public, so a missing one may say so plainly."""
    namespace = Namespace.objects.select_related("organization", "user").filter(name=name).first()
    if namespace is None:
        raise NotFound(f"There is no user or organization named '{name}'.", "namespace")
    return namespace


def organization_named(name: str) -> Organization:
    organization = Organization.objects.select_related("namespace").filter(name=name).first()
    if organization is None:
        raise NotFound(f"There is no organization named '{name}'.")
    return organization


def require_org_member(request: Any, organization: Organization, what: str) -> Principal:
    return require(request, lambda p: access.is_org_member(p, organization), what, None,
                   f": only members of '{organization.name}' may")


def require_org_admin(request: Any, organization: Organization, what: str) -> Principal:
    return require(request, lambda p: access.is_org_admin(p, organization), what, "org:admin",
                   f": only members of an admin team of '{organization.name}' may")


def require_namespace_admin(request: Any, namespace: Namespace, what: str) -> Principal:
    scope = "user:admin" if namespace.user_id is not None else "org:admin"
    return require(request, lambda p: access.administers_namespace(p, namespace), what, scope,
                   f": only the owner of '{namespace.name}' or its organization admins may")


def team_named(organization: Organization, name: str) -> Team:
    team = Team.objects.filter(organization=organization, name=name).first()
    if team is None:
        raise NotFound(f"'{organization.name}' has no team named '{name}'.")
    return team
