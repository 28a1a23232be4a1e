"""`manage.py invite [--email E] [--days N] [--url BASE]`: print a one-time sign-up link."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.urls import reverse

from portal.web.invitations import create_invitation


class Command(BaseCommand):
    help = "Create a one-time sign-up invitation and print its link (for WHARF_SIGNUP=invite)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="", help="suggested e-mail address for the new account")
        parser.add_argument("--days", type=int, default=7, help="days until the link expires (default 7)")
        parser.add_argument("--url", default=settings.WHARF_SITE_URL,
                            help="the portal's base URL (default: WHARF_SITE_URL, now %(default)s)")

    def handle(self, *args: Any, **options: Any) -> None:
        invitation, secret = create_invitation(options["email"], options["days"])
        link = f"{options['url'].rstrip('/')}{reverse('signup')}?invite={secret}"
        self.stdout.write(f"{link}\n(expires {invitation.expires_at:%Y-%m-%d %H:%M} UTC; it works once)")
