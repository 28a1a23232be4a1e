"""Who a repository's notifications concern: its admins (told when a notification is disabled)."""

from __future__ import annotations

from django.db.models import Q

from portal.access import Principal, Role, repository_role
from portal.accounts.models import TeamRole, User
from portal.repositories.models import Repository, RepositoryRole


def repository_admins(repository: Repository) -> list[User]:
    """Every active user with the admin role on the repository (as portal.access decides it)."""
    namespace = repository.namespace
    candidates = Q(pk=namespace.user_id) if namespace.user_id is not None else Q(pk__in=[])
    candidates |= Q(repository_permissions__repository=repository,
                    repository_permissions__role=RepositoryRole.ADMIN)
    candidates |= Q(team_memberships__team__repository_permissions__repository=repository,
                    team_memberships__team__repository_permissions__role=RepositoryRole.ADMIN)
    if namespace.organization_id is not None:
        candidates |= Q(team_memberships__team__organization_id=namespace.organization_id,
                        team_memberships__team__role=TeamRole.ADMIN)
    users = User.objects.filter(candidates, is_active=True).distinct().order_by("pk")
    return [u for u in users if repository_role(Principal.for_user(u), repository, repository.full_name) >= Role.ADMIN]
