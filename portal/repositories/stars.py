"""Stars: a user's bookmarks of repositories. The caller checks that the user may read what it stars."""

from __future__ import annotations

from django.db.models import QuerySet

from portal import access
from portal.access import Principal
from portal.accounts.models import User
from portal.repositories.models import Repository, Star


def star(user: User, repository: Repository) -> None:
    """Bookmark the repository; starring twice (even at once, from two requests) is the same as once."""
    Star.objects.bulk_create([Star(user=user, repository=repository)], ignore_conflicts=True)


def unstar(user: User, repository: Repository) -> None:
    Star.objects.filter(user=user, repository=repository).delete()


def is_starred(user: User, repository: Repository) -> bool:
    return Star.objects.filter(user=user, repository=repository).exists()


def starred_repositories(user: User) -> QuerySet[Repository]:
    """The user's starred repositories, most recently starred first: only those the user may still read (a
    star outlives a revoked permission, and must not go on naming a private repository)."""
    readable = access.readable_repositories(Principal.for_user(user)).values("id")
    return (Repository.objects.filter(stars__user=user, id__in=readable).select_related("namespace")
            .order_by("-stars__created_at", "full_name"))
