"""The rules for accounts: names, sign-up, organizations and teams, robot accounts and API tokens.

Callers (API views, pages) check who may act with `portal.access` and pass the acting principal here for
the audit log; these functions enforce what must hold whoever acts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone

from portal import audit
from portal.access import SCOPES, Principal
from portal.accounts.credentials import ROBOT_PREFIX, TOKEN_PREFIX, digest, new_secret
from portal.accounts.models import (
    EMAIL_TAKEN,
    ApiToken,
    Namespace,
    Organization,
    Robot,
    Team,
    TeamMember,
    TeamRole,
    User,
    namespace_validator,
    short_name_validator,
)
from portal.errors import Conflict, Invalid, NotFound

# Names that would collide with the portal's own URLs or read as something they are not.
RESERVED_NAMES = frozenset({
    "admin", "api", "v1", "v2", "auth", "login", "logout", "signup", "register", "oauth", "social", "complete",
    "settings", "user", "users", "organization", "organizations", "org", "orgs", "repository", "repositories",
    "repo", "search", "explore", "new", "static", "media", "help", "about", "docs", "health", "status",
    "wharf", "root", "system", "registry", "library", "robot", "robots", "team", "teams", "token", "tokens",
    "me", "self", "anonymous", "public", "private", "null", "none", "undefined", "password", "account", "oauth2",
})
OWNERS_TEAM = "owners"


def validate_namespace_name(name: str) -> None:
    """A user or organization name: the OCI path-component grammar, not reserved, not taken."""
    if not name:
        raise Invalid("A name is required.", "name")
    if len(name) > 64:
        raise Invalid("Names are at most 64 characters.", "name")
    try:
        namespace_validator(name)
    except ValidationError as error:
        raise Invalid(error.messages[0], "name") from None
    if name in RESERVED_NAMES:
        raise Invalid(f"'{name}' is reserved; choose another name.", "name")
    if Namespace.objects.filter(name=name).exists():
        raise Conflict(f"The name '{name}' is taken.", "name")


def _short_name(name: str, what: str) -> None:
    """A team or robot name: the same grammar as user and organization names."""
    if not name or len(name) > 64:
        raise Invalid(f"Invalid {what} name: use 1 to 64 characters.", "name")
    try:
        short_name_validator(name)
    except ValidationError as error:
        raise Invalid(f"Invalid {what} name: {error.messages[0]}", "name") from None


def email_taken(email: str, user_id: int | None = None) -> bool:
    """Whether another account (not `user_id`) holds the address in any case; compared as the database's
    unique constraint compares (lower() on both sides), so this check and the constraint agree."""
    if not email:
        return False
    holders = User.objects.alias(folded=Lower("email")).filter(folded=Lower(Value(email)))
    return holders.exclude(pk=user_id).exists() if user_id is not None else holders.exists()


def _check_email_free(email: str, user_id: int | None = None) -> None:
    if email_taken(email, user_id):
        raise Conflict(EMAIL_TAKEN, "email")


def sign_up(username: str, email: str, password: str, client_ip: str | None = None) -> User:
    validate_namespace_name(username)
    email = User.objects.normalize_email(email)
    _check_email_free(email)
    try:
        validate_password(password, User(username=username, email=email))
    except ValidationError as error:
        raise Invalid(" ".join(error.messages), "password") from None
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError:   # the name or the address taken by a concurrent sign-up (or organization)
        _check_email_free(email)
        raise Conflict(f"The name '{username}' is taken.", "name") from None
    audit.record("signup", Principal.for_user(user), client_ip=client_ip, namespace_id=user.namespace.pk,
                 target=username)
    return user


def change_email(user: User, email: str) -> None:
    """Give the user a new address; Conflict when another account holds it in any case."""
    email = User.objects.normalize_email(email)
    _check_email_free(email, user.pk)
    user.email = email
    try:
        with transaction.atomic():
            user.save(update_fields=["email"])
    except IntegrityError:   # taken by a concurrent change
        raise Conflict(EMAIL_TAKEN, "email") from None


# --- Organizations and teams ---------------------------------------------------------------------------------

def create_organization(principal: Principal, name: str, client_ip: str | None = None) -> Organization:
    """Create the organization; its creator becomes the one member of its owners team (admin)."""
    validate_namespace_name(name)
    if principal.user_id is None:
        raise Invalid("Only people create organizations.")
    creator = User.objects.get(pk=principal.user_id)
    try:
        with transaction.atomic():
            organization = Organization.objects.create(name=name)
            namespace = Namespace.objects.create(name=name, organization=organization)
            owners = Team.objects.create(organization=organization, name=OWNERS_TEAM, role=TeamRole.ADMIN,
                                         description="Administers the organization.")
            TeamMember.objects.create(team=owners, user=creator)
    except IntegrityError:
        raise Conflict(f"The name '{name}' is taken.", "name") from None
    audit.record("org_create", principal, client_ip=client_ip, namespace_id=namespace.pk, target=name)
    return organization


def delete_organization(principal: Principal, organization: Organization, client_ip: str | None = None) -> None:
    """Delete the organization with its teams, robots and repositories (their blobs wait for collection)."""
    name = organization.name
    with transaction.atomic():
        Namespace.objects.filter(organization=organization).delete()
        organization.delete()
    audit.record("org_delete", principal, client_ip=client_ip, target=name)


def parse_team_role(value: Any) -> TeamRole:
    for role in TeamRole:
        if value == role.label or value == role.value:
            return role
    raise Invalid("Unknown team role: use one of member, creator, admin.", "role")


def create_team(principal: Principal, organization: Organization, name: str, role: Any,
                description: str = "", client_ip: str | None = None) -> Team:
    _short_name(name, "team")
    team_role = parse_team_role(role)
    try:
        with transaction.atomic():
            team = Team.objects.create(organization=organization, name=name, role=team_role,
                                       description=description[:255])
    except IntegrityError:
        raise Conflict(f"The organization already has a team named '{name}'.", "name") from None
    audit.record("team_create", principal, client_ip=client_ip, namespace_id=organization.namespace.pk,
                 target=name, role=team_role.label)
    return team


def _admin_teams_left(organization: Organization, without_team: Team | None = None,
                      without_user: tuple[Team, int] | None = None) -> bool:
    """Whether some admin team keeps at least one member after a change (an organization needs an admin)."""
    memberships = TeamMember.objects.filter(team__organization=organization, team__role=TeamRole.ADMIN)
    if without_team is not None:
        memberships = memberships.exclude(team=without_team)
    if without_user is not None:
        memberships = memberships.exclude(team=without_user[0], user_id=without_user[1])
    return memberships.exists()


def update_team(principal: Principal, team: Team, role: Any = None, description: str | None = None,
                client_ip: str | None = None) -> Team:
    if role is not None:
        new_role = parse_team_role(role)
        if new_role < TeamRole.ADMIN and team.role == TeamRole.ADMIN and not _admin_teams_left(
                team.organization, without_team=team):
            raise Conflict("This is the last team that administers the organization; it must stay admin.", "role")
        team.role = new_role
    if description is not None:
        team.description = description[:255]
    team.save()
    audit.record("team_update", principal, client_ip=client_ip, namespace_id=team.organization.namespace.pk,
                 target=team.name, role=TeamRole(team.role).label)
    return team


def delete_team(principal: Principal, team: Team, client_ip: str | None = None) -> None:
    if team.role == TeamRole.ADMIN and not _admin_teams_left(team.organization, without_team=team):
        raise Conflict("This is the last team that administers the organization; it cannot be deleted.")
    namespace_id = team.organization.namespace.pk
    team.delete()
    audit.record("team_delete", principal, client_ip=client_ip, namespace_id=namespace_id, target=team.name)


def add_team_member(principal: Principal, team: Team, username: str, client_ip: str | None = None) -> User:
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"There is no user named '{username}'.", "username")
    _, added = TeamMember.objects.get_or_create(team=team, user=user)
    if not added:   # nothing changed, so nothing goes in the audit log
        raise Conflict(f"'{username}' is already a member of team '{team.name}'.", "username")
    audit.record("team_member_add", principal, client_ip=client_ip, namespace_id=team.organization.namespace.pk,
                 target=f"{team.name}:{username}")
    return user


def remove_team_member(principal: Principal, team: Team, username: str, client_ip: str | None = None) -> None:
    membership = TeamMember.objects.filter(team=team, user__username=username).first()
    if membership is None:
        raise NotFound(f"'{username}' is not a member of team '{team.name}'.", "username")
    if team.role == TeamRole.ADMIN and not _admin_teams_left(team.organization,
                                                             without_user=(team, membership.user_id)):
        raise Conflict("That would leave the organization without an admin.", "username")
    membership.delete()
    audit.record("team_member_remove", principal, client_ip=client_ip,
                 namespace_id=team.organization.namespace.pk, target=f"{team.name}:{username}")


# --- Robot accounts ---------------------------------------------------------------------------------------------

def create_robot(principal: Principal, namespace: Namespace, name: str, description: str = "",
                 client_ip: str | None = None) -> tuple[Robot, str]:
    """A new robot and its token; the token is returned once and only its digest is kept."""
    _short_name(name, "robot")
    token = new_secret(ROBOT_PREFIX)
    try:
        with transaction.atomic():
            robot = Robot.objects.create(namespace=namespace, name=name, description=description[:255],
                                         token_digest=digest(token))
    except IntegrityError:
        raise Conflict(f"'{namespace.name}+{name}' already exists.", "name") from None
    audit.record("robot_create", principal, client_ip=client_ip, namespace_id=namespace.pk, target=robot.full_name)
    return robot, token


def regenerate_robot_token(principal: Principal, robot: Robot, client_ip: str | None = None) -> str:
    """A new token; the old one, and registry tokens issued for it, stop working at once."""
    token = new_secret(ROBOT_PREFIX)
    robot.token_digest = digest(token)
    robot.save(update_fields=["token_digest"])
    audit.record("robot_regenerate", principal, client_ip=client_ip, namespace_id=robot.namespace_id,
                 target=robot.full_name)
    return token


def delete_robot(principal: Principal, robot: Robot, client_ip: str | None = None) -> None:
    full_name, namespace_id = robot.full_name, robot.namespace_id
    robot.delete()
    audit.record("robot_delete", principal, client_ip=client_ip, namespace_id=namespace_id, target=full_name)


# --- Personal API tokens ----------------------------------------------------------------------------------------

def create_api_token(principal: Principal, user: User, name: str, scopes: list[str],
                     expires_at: datetime | None = None, client_ip: str | None = None) -> tuple[ApiToken, str]:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise Invalid("Give the token a name of 1 to 100 characters.", "name")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise Invalid(f"Unknown scope {', '.join(unknown)}; use any of {', '.join(SCOPES)}.", "scopes")
    if not scopes:
        raise Invalid("Choose at least one scope.", "scopes")
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid("The expiry must be in the future.", "expires_at")
    secret = new_secret(TOKEN_PREFIX)
    token = ApiToken.objects.create(user=user, name=name, token_digest=digest(secret),
                                    prefix=secret[: len(TOKEN_PREFIX) + 4], scopes=sorted(set(scopes)),
                                    expires_at=expires_at)
    audit.record("token_create", principal, client_ip=client_ip, namespace_id=user.namespace.pk, target=name,
                 scopes=token.scopes)
    return token, secret


def revoke_api_token(principal: Principal, token: ApiToken, client_ip: str | None = None) -> None:
    name, namespace_id = token.name, token.user.namespace.pk
    token.delete()
    audit.record("token_revoke", principal, client_ip=client_ip, namespace_id=namespace_id, target=name)
