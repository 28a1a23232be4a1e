"""One answer to "may principal P do action A on repository R?", for the registry, the API and the pages.

A principal is whoever a request speaks for: anonymous, a user (by password, session or GitHub), a robot
account, or a user through a personal API token (the user's rights cut down to the token's scopes).
Repository roles are ordered: admin implies write implies read. The registry's token actions map onto
them: pull needs read, push and delete need write, "*" needs admin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from django.db import connection
from django.db.models import Q

from portal.accounts.models import TeamRole
from portal.repositories.models import RepositoryRole

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from portal.accounts.models import Namespace, Organization
    from portal.repositories.models import Repository


class Role(IntEnum):
    """A repository role: the stored RepositoryRole values, plus NONE for no role at all."""

    NONE = 0
    READ = RepositoryRole.READ.value
    WRITE = RepositoryRole.WRITE.value
    ADMIN = RepositoryRole.ADMIN.value


ACTION_ROLES = {"pull": Role.READ, "push": Role.WRITE, "delete": Role.WRITE, "*": Role.ADMIN}

# API token scopes. A token's repository rights are capped by the highest repo:* scope it holds.
SCOPES = {
    "repo:read": "pull and read repositories the user may read",
    "repo:write": "push, retag and delete in repositories the user may write",
    "repo:admin": "change settings and permissions of repositories the user administers",
    "repo:create": "create repositories (also by a first push) where the user may create them",
    "org:admin": "administer organizations the user administers (teams, robots, default permissions)",
    "user:admin": "manage the user's own account and API tokens",
}
SCOPE_CAPS = {"repo:read": Role.READ, "repo:write": Role.WRITE, "repo:admin": Role.ADMIN}


@dataclass(frozen=True)
class Principal:
    """Who a request speaks for. `scopes` is None for full rights (password, session), else the token's."""

    kind: str = "anonymous"               # anonymous | user | robot | token
    username: str = ""                    # "alice", or "acme+ci" for a robot
    user_id: int | None = None            # the user, or the token's owner
    robot_id: int | None = None
    token_id: int | None = None
    scopes: frozenset[str] | None = None
    is_superuser: bool = False
    is_active: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def is_robot(self) -> bool:
        return self.kind == "robot"

    @property
    def is_person(self) -> bool:
        """A user acting with full rights or through a token (robots and anonymous are not people)."""
        return self.user_id is not None

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    @property
    def cap(self) -> Role:
        """The most a token's scopes allow on any repository (ADMIN for full rights)."""
        if self.scopes is None:
            return Role.ADMIN
        return max((SCOPE_CAPS[s] for s in self.scopes if s in SCOPE_CAPS), default=Role.NONE)

    @classmethod
    def for_user(cls, user: Any) -> Principal:
        if user is None or not getattr(user, "is_authenticated", False):
            return ANONYMOUS
        return cls("user", user.username, user.pk, is_superuser=user.is_superuser, is_active=user.is_active)


ANONYMOUS = Principal()


class RepositoryKey(Protocol):
    """What the role question needs of a repository: the model, or the registry's RepositoryRow."""

    @property
    def pk(self) -> Any: ...

    @property
    def namespace_id(self) -> Any: ...

    @property
    def is_public(self) -> bool: ...


def _tables() -> dict[str, str]:
    from portal.accounts.models import Namespace, Team, TeamMember
    from portal.repositories.models import RepositoryPermission

    return {"perm": RepositoryPermission._meta.db_table, "member": TeamMember._meta.db_table,
            "team": Team._meta.db_table, "ns": Namespace._meta.db_table}


@cache
def _statements() -> dict[str, str]:
    t = _tables()
    # Role numbers come from the enums (constants, not input); values travel as parameters.
    org_admin, org_creator = int(TeamRole.ADMIN), int(TeamRole.CREATOR)
    admin, write, none = int(Role.ADMIN), int(Role.WRITE), int(Role.NONE)
    return {
        # The highest of: direct grants, grants to the user's teams, admin of the user's own namespace (by
        # its owner, not its name: a username changed in the admin does not carry its namespace along), and
        # admin (or, for a repository that does not exist yet, creator) through a team of the organization
        # that owns the namespace. readable_repositories() states the same rule as ORM filters;
        # tests/matrix/test_access_agreement.py holds the two to one answer.
        "user_role": (
            f"SELECT COALESCE(MAX(r), {none}) FROM ("
            f" SELECT role AS r FROM {t['perm']} WHERE repository_id = %s AND user_id = %s"
            f" UNION ALL SELECT {admin} FROM {t['ns']} WHERE id = %s AND user_id = %s"
            f" UNION ALL SELECT p.role FROM {t['perm']} p JOIN {t['member']} m ON m.team_id = p.team_id"
            "  WHERE p.repository_id = %s AND m.user_id = %s"
            f" UNION ALL SELECT CASE WHEN t.role = {org_admin} THEN {admin}"
            f"  WHEN t.role = {org_creator} AND %s THEN {write} ELSE {none} END"
            f"  FROM {t['team']} t JOIN {t['member']} m ON m.team_id = t.id"
            f"  JOIN {t['ns']} n ON n.organization_id = t.organization_id WHERE n.id = %s AND m.user_id = %s"
            ") grants"
        ),
        "robot_role": (f"SELECT COALESCE(MAX(role), {none}) FROM {t['perm']}"
                       " WHERE repository_id = %s AND robot_id = %s"),
        "namespace": f"SELECT id FROM {t['ns']} WHERE name = %s",
    }


def _scalar(name: str, params: list[Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(_statements()[name], params)
        row = cursor.fetchone()
    return None if row is None else row[0]


def repository_role(principal: Principal | None, repository: RepositoryKey | None, full_name: str) -> Role:
    """The principal's role on the repository `full_name` (`repository` is its row, or None if missing).

    For a missing repository the answer is about creating it: WRITE (enough to push) where the principal
    may create repositories, else NONE.
    """
    principal = principal or ANONYMOUS
    public = repository is not None and repository.is_public
    floor = Role.READ if public else Role.NONE
    if not principal.is_authenticated or not principal.is_active:
        return floor
    if principal.is_robot:
        if repository is None:
            return Role.NONE   # robots never create repositories
        return max(floor, Role(_scalar("robot_role", [repository.pk, principal.robot_id]) or 0))
    role = _user_role(principal, repository, full_name)
    if repository is None:
        # Creating by push is a push: a token needs repo:create and a scope that pushes (repo:write or more),
        # or it would make an empty repository it may not push into.
        may_push = min(role, principal.cap) >= Role.WRITE
        return Role.WRITE if may_push and principal.has_scope("repo:create") else Role.NONE
    return max(floor, Role(min(role, principal.cap)))


def _user_role(principal: Principal, repository: RepositoryKey | None, full_name: str) -> Role:
    if principal.is_superuser:
        return Role.ADMIN
    if repository is not None:
        namespace_id = repository.namespace_id
    else:
        row_id = _scalar("namespace", [full_name.split("/", 1)[0]])
        if row_id is None:
            return Role.NONE
        namespace_id = row_id
    repository_id = repository.pk if repository is not None else -1
    user_id = principal.user_id
    value = _scalar("user_role", [repository_id, user_id, namespace_id, user_id, repository_id, user_id,
                                  repository is None, namespace_id, user_id])
    return Role(int(value or 0))


def allowed_actions(role: Role, requested: list[str]) -> list[str]:
    """The requested registry actions that the role grants, in the order they were asked for."""
    return [action for action in requested if action in ACTION_ROLES and role >= ACTION_ROLES[action]]


def readable_repositories(principal: Principal | None) -> QuerySet[Repository]:
    """Every repository the principal may read (the catalog, search, listings)."""
    from portal.repositories.models import Repository, Visibility

    principal = principal or ANONYMOUS
    visible = Q(visibility=Visibility.PUBLIC)
    if principal.is_authenticated and principal.is_active:
        if principal.is_robot:
            visible |= Q(permissions__robot_id=principal.robot_id)
        elif principal.is_superuser and principal.cap >= Role.READ:
            visible = Q()
        elif principal.cap >= Role.READ:
            visible |= (Q(namespace__user_id=principal.user_id)
                        | Q(permissions__user_id=principal.user_id)
                        | Q(permissions__team__memberships__user_id=principal.user_id)
                        | Q(namespace__organization__teams__role=TeamRole.ADMIN,
                            namespace__organization__teams__memberships__user_id=principal.user_id))
    ids = Repository.objects.filter(visible).values("id")
    return Repository.objects.filter(id__in=ids)


# --- Namespaces and organizations ---------------------------------------------------------------------------

def organization_role(principal: Principal | None, organization: Organization) -> int:
    """The principal's highest team role in the organization (a TeamRole value), 0 when none.

    A token needs the org:admin scope to act as an organization admin; without it the role stops at creator.
    """
    from portal.accounts.models import TeamMember

    principal = principal or ANONYMOUS
    if not principal.is_person or not principal.is_active:
        return 0
    if principal.is_superuser:
        role = int(TeamRole.ADMIN)
    else:
        roles = TeamMember.objects.filter(team__organization=organization, user_id=principal.user_id or 0)
        role = max(roles.values_list("team__role", flat=True), default=0)
    if role >= TeamRole.ADMIN and not principal.has_scope("org:admin"):
        role = int(TeamRole.CREATOR)
    return role


def is_org_admin(principal: Principal | None, organization: Organization) -> bool:
    return organization_role(principal, organization) >= TeamRole.ADMIN


def is_org_member(principal: Principal | None, organization: Organization) -> bool:
    return organization_role(principal, organization) > 0


def may_create_in(principal: Principal | None, namespace: Namespace) -> bool:
    """Whether the principal may create repositories in the namespace (its own; an org as creator or admin)."""
    principal = principal or ANONYMOUS
    if not principal.is_person or not principal.is_active or not principal.has_scope("repo:create"):
        return False
    if namespace.user_id is not None:
        return namespace.user_id == principal.user_id or principal.is_superuser
    assert namespace.organization is not None
    # repo:create, checked above, is the scope that matters; without org:admin an admin counts as a creator,
    # which may create.
    return organization_role(principal, namespace.organization) >= TeamRole.CREATOR


def administers_namespace(principal: Principal | None, namespace: Namespace) -> bool:
    """The owner of a user namespace, or an admin of an organization's (robots and default permissions)."""
    principal = principal or ANONYMOUS
    if not principal.is_person or not principal.is_active:
        return False
    if namespace.user_id is not None:
        scope = "user:admin"
        return (namespace.user_id == principal.user_id or principal.is_superuser) and principal.has_scope(scope)
    assert namespace.organization is not None
    return is_org_admin(principal, namespace.organization)
