"""What the registry tells the rest of Wharf; it imports nothing from its listeners (builds, scanning)."""

from django.dispatch import Signal

manifest_pushed = Signal()    # sender=Manifest, manifest=Manifest, tag=str | None
manifest_deleted = Signal()   # sender=Manifest, repository=Repository, digest=str
tag_changed = Signal()        # sender=Tag, repository=Repository, tag=str, digest=str, previous=str
