"""A push through /v2/ as a client sends it, and notifications made through the services."""

from __future__ import annotations

from typing import Any

from notifications import services
from portal.access import Principal
from tests.registry_api.helpers import EMPTY_CONFIG, OCI_CONFIG, OCI_MANIFEST, auth, descriptor, encode, push_blob


def push(client: Any, name: str, tag: str, layer: bytes = b"layer", user: str = "alice") -> str:
    """Push a one-layer image under `tag`; its digest."""
    push_blob(client, name, EMPTY_CONFIG, user=user)
    push_blob(client, name, layer, user=user)
    body = encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, EMPTY_CONFIG),
                   "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)]})
    response = client.put(f"/v2/{name}/manifests/{tag}", data=body, content_type=OCI_MANIFEST,
                          HTTP_AUTHORIZATION=auth(name, user=user), HTTP_USER_AGENT="podman/5.4.0")
    assert response.status_code == 201, response.content
    return str(response["Docker-Content-Digest"])


def webhook(repository: Any, user: Any, url: str, event: str = "repo_push", **fields: Any) -> services.Created:
    return services.create_notification(repository, Principal.for_user(user), event=event, method="webhook",
                                        target=url, **fields)
