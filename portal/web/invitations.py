"""Creating and claiming sign-up invitations (used when settings.WHARF_SIGNUP is "invite")."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.accounts import services
from portal.accounts.credentials import digest, new_secret
from portal.accounts.models import User
from portal.errors import Forbidden
from portal.web.models import Invitation

INVITE_PREFIX = "wharf_invite_"


def invitation_only() -> bool:
    return settings.WHARF_SIGNUP == "invite"


def create_invitation(email: str = "", days: int = 7, created_by: User | None = None) -> tuple[Invitation, str]:
    """A new invitation and its secret (for the link `/signup/?invite=<secret>`), returned once."""
    secret = new_secret(INVITE_PREFIX)
    invitation = Invitation.objects.create(token_digest=digest(secret), email=email, created_by=created_by,
                                           expires_at=timezone.now() + timedelta(days=days))
    return invitation, secret


def pending(secret: str) -> Invitation | None:
    """The unused, unexpired invitation behind the secret, if any."""
    if not secret.startswith(INVITE_PREFIX):
        return None
    return Invitation.objects.filter(token_digest=digest(secret), used_at__isnull=True,
                                     expires_at__gt=timezone.now()).first()


def sign_up(username: str, email: str, password: str, invite: str, client_ip: str | None = None) -> User:
    """accounts.services.sign_up, gated by an invitation when sign-up is invitation-only.

    The invitation is claimed with a conditional UPDATE in the same transaction as the sign-up, so two
    people racing on one link get one account, and a refused sign-up leaves the link unused.
    """
    if not invitation_only():
        return services.sign_up(username, email, password, client_ip=client_ip)
    now = timezone.now()
    with transaction.atomic():
        claimed = Invitation.objects.filter(token_digest=digest(invite), used_at__isnull=True,
                                            expires_at__gt=now).update(used_at=now)
        if not claimed:
            raise Forbidden("This invitation has been used or has expired; ask an administrator for a new one.")
        user = services.sign_up(username, email, password, client_ip=client_ip)
        Invitation.objects.filter(token_digest=digest(invite)).update(used_by=user)
    return user
