"""The registry's transactional rules; views validate HTTP and call these."""

from registry_api.services.blobs import (
    append_to_upload,
    cancel_upload,
    create_repository,
    finish_upload,
    get_repository,
    get_upload,
    linked_blob,
    mount_blob,
    purge_stale_uploads,
    start_upload,
    unlink_blob,
    upload_blob,
    upload_owner,
    upload_progress_headers,
)
from registry_api.services.manifests import (
    delete_manifest,
    get_manifest,
    list_tags,
    put_manifest,
    referrers,
)

__all__ = [
    "append_to_upload", "cancel_upload", "create_repository", "delete_manifest", "finish_upload", "get_manifest",
    "get_repository", "get_upload", "linked_blob", "list_tags", "mount_blob", "purge_stale_uploads",
    "put_manifest", "referrers", "start_upload", "unlink_blob", "upload_blob", "upload_owner",
    "upload_progress_headers",
]
