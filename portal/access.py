"""One answer to "may principal P do action A on repository R?", for the registry, the API and pages.

Roles are ordered: admin implies write implies read. The registry's token actions map onto them:
pull needs read, push and delete need write, "*" needs admin.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from portal.repositories.models import Repository


class Subject(Protocol):
    """Who asks: a User, AnonymousUser, or the registry's token principal."""

    @property
    def username(self) -> str: ...
    @property
    def is_authenticated(self) -> bool: ...
    @property
    def is_active(self) -> bool: ...


class Role(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2
    ADMIN = 3


ACTION_ROLES = {"pull": Role.READ, "push": Role.WRITE, "delete": Role.WRITE, "*": Role.ADMIN}


def repository_role(user: Subject | None, repository: Repository | None, full_name: str) -> Role:
    """The principal's role on the repository `full_name` (`repository` is its row, or None if missing).

    A missing repository in the user's own namespace is theirs to create, so they hold admin on it.
    """
    namespace = full_name.split("/", 1)[0]
    if user is not None and user.is_authenticated and user.is_active and namespace == user.username:
        return Role.ADMIN
    if repository is not None and repository.is_public:
        return Role.READ
    return Role.NONE


def allowed_actions(role: Role, requested: list[str]) -> list[str]:
    """The requested registry actions that the role grants, in the order they were asked for."""
    return [action for action in requested if action in ACTION_ROLES and role >= ACTION_ROLES[action]]


def readable_repositories(user: Subject | None) -> QuerySet[Repository]:
    """Every repository the principal may read (the catalog, search, listings)."""
    from django.db.models import Q

    from portal.repositories.models import Repository, Visibility

    visible = Q(visibility=Visibility.PUBLIC)
    if user is not None and user.is_authenticated and user.is_active:
        visible |= Q(namespace__name=user.username)
    return Repository.objects.filter(visible)
