"""Checking what a client presents: a password, a robot token or a personal API token.

The same function serves `podman login` (through the registry's token endpoint), Basic auth on the REST
API and the sign-in form, so that every door applies the same rules and the same abuse limits.
Tokens are long random strings stored as SHA-256 digests: looking one up costs an index probe, not a
bcrypt round (bcrypt is for passwords, which people choose and which must be slow to guess).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import replace
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate as django_authenticate
from django.db import connection
from django.utils import timezone

from portal import audit, throttle
from portal.access import ANONYMOUS, Principal
from portal.accounts.models import ApiToken, Namespace, Robot, User
from portal.db import aware_datetime
from portal.errors import AuthenticationFailed
from portal.names import TOKEN_USERNAMES

TOKEN_PREFIX = "wharf_pat_"
ROBOT_PREFIX = "wharf_robot_"
LAST_USED_RESOLUTION = timedelta(minutes=1)   # last-used times are kept to the minute: one write per minute
INCORRECT = "Incorrect username or password."


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def authenticate(client_ip: str | None, username: str, secret: str, allow_robots: bool = True,
                 allow_tokens: bool = True) -> Principal:
    """The principal these credentials prove, or AuthenticationFailed; Throttled when this client has failed
    too often. A password is checked against the limits first (so a refused client costs no bcrypt round); a
    robot or API token is checked first, so that the right one works whoever else fails with its name."""
    is_token = "+" in username or secret.startswith(TOKEN_PREFIX)
    if not is_token:
        throttle.check(client_ip, username)
    principal: Principal | None = None
    if "+" in username:
        principal = _robot(client_ip, username, secret) if allow_robots else None
    elif is_token:
        principal = _token(client_ip, secret, username) if allow_tokens else None
    else:
        principal = _password(client_ip, username, secret)
    if principal is None:
        failed(client_ip, "" if is_token else username, target=username)
        raise AuthenticationFailed(INCORRECT)
    return principal


def failed(client_ip: str | None, account: str, target: str = "") -> None:
    """A wrong secret: Throttled if this client has already failed too often (a password's client was checked
    before), else counted and audited. `account` is the name a password was tried for, "" for a token."""
    if not account:
        throttle.check(client_ip, "")
    throttle.failed(client_ip, account)
    audit.record("login_failed", ANONYMOUS, client_ip=client_ip, target=(target or account)[:150])


def api_token_principal(secret: str, client_ip: str | None = None) -> Principal | None:
    """For `Authorization: Bearer <token>` on the REST API."""
    return _token(client_ip, secret, None)


def _robot(client_ip: str | None, full_name: str, secret: str) -> Principal | None:
    namespace, _, name = full_name.partition("+")
    robot = Robot.objects.filter(namespace__name=namespace, name=name).first()
    if robot is None or not hmac.compare_digest(robot.token_digest, digest(secret)):
        return None
    principal = robot_principal(robot.pk, full_name, robot.token_digest)
    if _touch(Robot, robot.pk, robot.last_used_at):
        audit.record("token_use", principal, client_ip=client_ip, namespace_id=robot.namespace_id, target=full_name)
    return principal


def robot_principal(robot_id: int, full_name: str, token_digest: str) -> Principal:
    # The digest's head travels in registry tokens, so that a regenerated token ends them at once.
    return Principal("robot", full_name, robot_id=robot_id, extra={"generation": token_digest[:16]})


def _token(client_ip: str | None, secret: str, username: str | None) -> Principal | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    # Found by the SHA-256 of the secret: how long the index probe takes says nothing about the secret itself.
    token = ApiToken.objects.select_related("user").filter(token_digest=digest(secret)).first()
    if token is None:
        return None
    if username is not None and username not in TOKEN_USERNAMES and username != token.user.username:
        return None
    principal = token_principal(token)
    if principal is None:
        return None
    if _touch(ApiToken, token.pk, token.last_used_at):
        namespace_id = Namespace.objects.filter(user_id=token.user_id).values_list("id", flat=True).first()
        audit.record("token_use", principal, client_ip=client_ip, namespace_id=namespace_id, target=token.name)
    return principal


def token_principal(token: ApiToken) -> Principal | None:
    """The token's principal, or None when it has expired or its user is disabled."""
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return None
    user = token.user
    if not user.is_active:
        return None
    return Principal("token", user.username, user.pk, token_id=token.pk, scopes=frozenset(token.scopes),
                     is_superuser=user.is_superuser)


def _touch(model: type[Robot] | type[ApiToken], pk: int, last_used_at: Any) -> bool:
    """Note the use; True when it was written. The audit log's token_use entries follow the same minute
    resolution, so that a client asking for a token per request writes one entry a minute, not hundreds."""
    now = timezone.now()
    if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
        model.objects.filter(pk=pk).update(last_used_at=now)
        return True
    return False


# Passwords already checked against a user's *current* stored hash, as keyed HMACs (never the password
# itself). Registry clients ask for a token per scope, and bcrypt costs ~250 ms each time by design; a
# changed password changes the stored hash and so misses this memo, and a disabled user is refused first.
_MEMO_KEY = secrets.token_bytes(32)
_checked_passwords: OrderedDict[bytes, None] = OrderedDict()
_checked_lock = threading.Lock()
_MEMO_SIZE = 1024


def _memo(user: User, password: str) -> bytes:
    message = f"{user.pk}\0{user.password}\0{password}".encode()
    return hmac.new(_MEMO_KEY, message, hashlib.sha256).digest()


def _password(client_ip: str | None, username: str, password: str) -> Principal | None:
    known = User.objects.filter(username=username, is_active=True).first()
    if known is not None:
        memo = _memo(known, password)
        with _checked_lock:
            if memo in _checked_passwords:
                _checked_passwords.move_to_end(memo)
                return user_principal(known)
    user = django_authenticate(None, username=username, password=password)
    if user is None:
        return None
    with _checked_lock:
        _checked_passwords[_memo(user, password)] = None
        while len(_checked_passwords) > _MEMO_SIZE:
            _checked_passwords.popitem(last=False)
    return user_principal(user)


def user_principal(user: User) -> Principal:
    """A user proven by password. Their registry and refresh tokens name the password they were issued
    for, so that changing it ends them, as regenerating a robot's token ends the robot's."""
    return replace(Principal.for_user(user), extra={"generation": password_generation(user.password)})


def password_generation(password_hash: str) -> str:
    # Keyed, so that the token (which its holder can read) says nothing about the stored hash.
    return hmac.new(settings.SECRET_KEY.encode(), password_hash.encode(), hashlib.sha256).hexdigest()[:16]


# --- Registry tokens carry a credential reference, checked live on every /v2/ request -----------------------

def credential_of(principal: Principal) -> str:
    if principal.kind == "robot":
        return f"robot:{principal.robot_id}:{principal.extra.get('generation', '')}"
    if principal.kind == "token":
        return f"token:{principal.token_id}"
    if principal.kind == "user":
        generation = principal.extra.get("generation")
        return f"user:{principal.user_id}:{generation}" if generation else f"user:{principal.user_id}"
    return ""


@cache
def _live_statements() -> dict[str, str]:
    user, robot, ns, token = (User._meta.db_table, Robot._meta.db_table, Namespace._meta.db_table,
                              ApiToken._meta.db_table)
    return {
        "user": f"SELECT username, is_active, is_superuser, password FROM {user} WHERE id = %s",
        "robot": f"SELECT n.name, r.name, r.token_digest FROM {robot} r JOIN {ns} n ON n.id = r.namespace_id "
                 "WHERE r.id = %s",
        "token": "SELECT u.id, u.username, u.is_active, u.is_superuser, t.scopes, t.expires_at "
                 f"FROM {token} t JOIN {user} u ON u.id = t.user_id WHERE t.id = %s",
    }


def live_principal(credential: str) -> Principal | None:
    """The principal a registry token's credential names, as it stands now: None when the user has been
    disabled or has changed the password the token was issued for, the robot deleted or its token
    regenerated, or the API token revoked or expired. (A user credential without a password generation,
    as tokens issued before generations carry, is checked for the user alone.)"""
    if not credential:
        return ANONYMOUS
    kind, _, rest = credential.partition(":")
    ident, _, generation = rest.partition(":")
    if kind not in ("user", "robot", "token") or not ident.isdigit():
        return None
    with connection.cursor() as cursor:
        cursor.execute(_live_statements()[kind], [int(ident)])
        row = cursor.fetchone()
    if row is None:
        return None
    if kind == "user":
        username, active, superuser, password = row
        if not active or (generation and not hmac.compare_digest(password_generation(password), generation)):
            return None
        extra = {"generation": generation} if generation else {}
        return Principal("user", username, int(ident), is_superuser=bool(superuser), extra=extra)
    if kind == "robot":
        namespace, name, token_digest = row
        if not generation or not hmac.compare_digest(token_digest[:16], generation):
            return None
        return robot_principal(int(ident), f"{namespace}+{name}", token_digest)
    user_id, username, active, superuser, scopes, expires_at = row
    if isinstance(scopes, str):   # SQLite returns JSON columns as text
        scopes = json.loads(scopes)
    token = ApiToken(id=int(ident), user=User(id=user_id, username=username, is_active=active,
                                              is_superuser=superuser), scopes=scopes)
    token.expires_at = aware_datetime(expires_at)
    return token_principal(token)
