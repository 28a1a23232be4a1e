from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from portal.accounts.models import Namespace, User


@receiver(post_save, sender=User)
def give_user_a_namespace(sender: type[User], instance: User, created: bool, **kwargs: Any) -> None:
    # A name held by another namespace fails the user's creation (unique name) rather than hand it over.
    if created:
        Namespace.objects.create(name=instance.username, user=instance)
