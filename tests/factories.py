"""Plain factory functions: each test makes the little world it needs."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from django.contrib.auth.hashers import make_password

from portal.accounts.models import Namespace, User
from portal.repositories.models import Repository, Visibility
from registry_api import tokens

PASSWORD = "correct horse battery staple"


@cache
def _password_hash() -> str:
    # bcrypt is slow on purpose; hash the shared test password once per run.
    return make_password(PASSWORD)


def make_user(username: str, **fields: Any) -> User:
    user = User(username=username, email=f"{username}@example.com", **fields)
    user.password = _password_hash()
    user.save()
    return user


def make_repository(full_name: str, visibility: str = Visibility.PRIVATE) -> Repository:
    namespace_name, name = full_name.split("/", 1)
    namespace, _ = Namespace.objects.get_or_create(name=namespace_name)
    return Repository.objects.create(namespace=namespace, name=name, full_name=full_name, visibility=visibility)


def bearer(username: str, *access: tuple[str, str]) -> str:
    """An Authorization header with a registry token, e.g. bearer("alice", ("alice/app", "pull,push"))."""
    grants = [{"type": "repository", "name": name, "actions": actions.split(",")} for name, actions in access]
    token, _ = tokens.issue(username, grants)
    return f"Bearer {token}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(config: bytes, layers: list[bytes], **extra: Any) -> bytes:
    """An OCI image manifest for the given config and layer bytes (which the test must push)."""
    document = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer),
                    "size": len(layer)} for layer in layers],
        **extra,
    }
    return json.dumps(document).encode()
