"""What the registry tells the rest of Wharf; it imports nothing from its listeners (builds, scanning).

Payloads are plain rows (registry_api.queries), sent once the transaction has committed; a listener that
needs more reads it, and does its work in a Celery task, never inside the request that sent the signal."""

from django.dispatch import Signal

# sender=Manifest, manifest=ManifestRow, tag=str | None, pusher=str (a name, "" when unknown), user_agent=str
manifest_pushed = Signal()
manifest_deleted = Signal()   # sender=Manifest, repository=RepositoryRow or the model, digest=str
tag_changed = Signal()        # sender=Tag, repository=(as above), tag=str, digest=str, previous=str
