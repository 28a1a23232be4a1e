"""Rows of grants (repository permissions, organization default permissions) as the pages list them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from portal.accounts.models import Namespace
from portal.repositories.models import RepositoryRole

KIND_ORDER = {"users": 0, "teams": 1, "robots": 2}
ROLE_NAMES = [role.label for role in RepositoryRole]


@dataclass(frozen=True)
class GrantRow:
    kind: str       # users | teams | robots, as the services name them
    who: str        # a username, a team name or a robot's full name
    role: str       # read | write | admin

    @property
    def kind_label(self) -> str:
        return self.kind[:-1]


def grant_rows(grants: Iterable[Any], namespace: Namespace) -> list[GrantRow]:
    """`grants` are RepositoryPermission or DefaultPermission rows with user, team and robot selected."""
    rows = []
    for grant in grants:
        role = RepositoryRole(grant.role).label
        if grant.user is not None:
            rows.append(GrantRow("users", grant.user.username, role))
        elif grant.team is not None:
            rows.append(GrantRow("teams", grant.team.name, role))
        elif grant.robot is not None:
            rows.append(GrantRow("robots", f"{namespace.name}+{grant.robot.name}", role))
    return sorted(rows, key=lambda row: (KIND_ORDER[row.kind], row.who))
