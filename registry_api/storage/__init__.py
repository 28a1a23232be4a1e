"""`backend()` returns the configured storage; it is built on first use, never at import time."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from registry_api.storage.base import BlobWriter, KeyBusy, StorageBackend, blob_key, upload_key

__all__ = ["BlobWriter", "KeyBusy", "StorageBackend", "backend", "blob_key", "upload_key"]


@cache
def backend() -> StorageBackend:
    config = settings.WHARF_STORAGE
    kind = config["BACKEND"]
    if kind == "filesystem":
        from registry_api.storage.filesystem import FilesystemStorage

        return FilesystemStorage(str(config["PATH"]))
    if kind == "s3":
        from registry_api.storage.s3 import S3Storage

        return S3Storage(str(config["BUCKET"]), str(config.get("PREFIX", "")),
                         endpoint_url=str(config.get("ENDPOINT_URL") or "") or None,
                         region=str(config.get("REGION") or "") or None,
                         addressing_style=str(config.get("ADDRESSING_STYLE", "auto")),
                         redirect=bool(config.get("REDIRECT", True)),
                         redirect_seconds=int(str(config.get("REDIRECT_SECONDS", 300))))
    if kind == "memory":
        from registry_api.storage.memory import MemoryStorage

        return MemoryStorage()
    raise ValueError(f"unknown WHARF_STORAGE_BACKEND {kind!r} (filesystem, s3 or memory)")


@receiver(setting_changed)
def _forget_backend(setting: str, **kwargs: object) -> None:
    if setting == "WHARF_STORAGE":
        backend.cache_clear()
