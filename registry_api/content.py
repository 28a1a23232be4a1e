"""Manifest and index parsing: pure functions, no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from portal.jsondepth import TooDeep, check_depth
from portal.names import is_supported_digest
from registry_api.errors import ManifestInvalid

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MANIFESTS = {OCI_MANIFEST, DOCKER_MANIFEST}
INDEXES = {OCI_INDEX, DOCKER_MANIFEST_LIST}
MANIFEST_MEDIA_TYPES = IMAGE_MANIFESTS | INDEXES
# Layers that the client fetches from elsewhere ("foreign" layers); the registry need not hold them.
NON_DISTRIBUTABLE = {
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
}


@dataclass(frozen=True)
class Policy:
    """What a deployment allows in a manifest beyond the spec's shape (settings, passed in by the service)."""

    max_index_entries: int = 1000
    # Foreign layer URLs must match this pattern whole; None refuses every descriptor that carries `urls`.
    foreign_urls: re.Pattern[str] | None = None


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    raw: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class ParsedManifest:
    media_type: str
    artifact_type: str
    subject: str
    annotations: dict[str, str]
    blobs: list[str]        # config and layer digests the repository must hold
    manifests: list[str]    # child manifest digests (indexes) the repository must hold
    image_size: int = 0     # an image's compressed size, config and layers (0 for an index)


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def parse_manifest(body: bytes, content_type: str, policy: Policy = DEFAULT_POLICY) -> ParsedManifest:
    """Validate a pushed manifest or index and list what it references; raises ManifestInvalid."""
    document = _load(body)
    media_type = _media_type(document, content_type.split(";")[0].strip())
    _check_shape(document, media_type)
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    subject = document.get("subject")
    subject_digest = _descriptor(subject, "subject", policy).digest if subject is not None else ""
    annotations = document.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise ManifestInvalid("annotations must be an object")
    if media_type in INDEXES:
        entries = _list(document, "manifests")
        if len(entries) > policy.max_index_entries:
            raise ManifestInvalid(f"an index may list at most {policy.max_index_entries} manifests, "
                                  f"this one lists {len(entries)}")
        children = [_descriptor(d, "manifests[]", policy) for d in entries]
        artifact_type = _string(document.get("artifactType", ""), "artifactType")
        return ParsedManifest(media_type, artifact_type, subject_digest, annotations, [],
                              [c.digest for c in children])
    config = _descriptor(document.get("config"), "config", policy)
    layers = [_descriptor(d, "layers[]", policy)
              for d in _list(document, "layers", required=media_type == DOCKER_MANIFEST)]
    artifact_type = _string(document.get("artifactType", ""), "artifactType")
    blobs = [config.digest] + [
        layer.digest for layer in layers if layer.media_type not in NON_DISTRIBUTABLE and not layer.raw.get("urls")
    ]
    return ParsedManifest(media_type, artifact_type or config.media_type, subject_digest, annotations,
                          blobs, [], config.size + sum(layer.size for layer in layers))


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # With a repeated key, json.loads keeps the last value and another parser may keep the first: two
    # readers of one digest would see two different images.
    document = dict(pairs)
    if len(document) != len(pairs):
        repeated = Counter(key for key, _ in pairs).most_common(1)[0][0]
        raise _DuplicateKey(f"key {repeated!r} appears more than once in one object")
    return document


def _load(body: bytes) -> dict[str, Any]:
    try:
        check_depth(body)
        document = json.loads(body, object_pairs_hook=_unique_keys)
    except (TooDeep, _DuplicateKey) as exc:
        raise ManifestInvalid(f"manifest is not acceptable JSON: {exc}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError only if check_depth misjudged an exotic encoding: still the client's fault.
        raise ManifestInvalid("manifest is not valid JSON", detail=str(exc)) from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    return document


def _check_shape(document: dict[str, Any], media_type: str) -> None:
    """An image manifest with `manifests`, or an index with `config` or `layers`, reads as two things at once
    (clients that trust the fields over mediaType would pull something else): refused, as distribution does."""
    if media_type in INDEXES:
        stray = [key for key in ("config", "layers") if document.get(key) is not None]
    else:
        stray = ["manifests"] if document.get("manifests") is not None else []
    if stray:
        kind = "an index" if media_type in INDEXES else "an image manifest"
        raise ManifestInvalid(f"{media_type} is {kind} but carries {' and '.join(stray)}")


def _media_type(document: dict[str, Any], content_type: str) -> str:
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    if declared and content_type in MANIFEST_MEDIA_TYPES and declared != content_type:
        raise ManifestInvalid(f"mediaType {declared} does not match Content-Type {content_type}")
    media_type = declared or content_type
    if media_type not in MANIFEST_MEDIA_TYPES:
        # An OCI manifest may omit mediaType; then its shape tells what it is.
        if "manifests" in document:
            media_type = OCI_INDEX
        elif "config" in document:
            media_type = OCI_MANIFEST
        else:
            raise ManifestInvalid(f"unsupported manifest media type {media_type or '(none)'}")
    return media_type


def _list(document: dict[str, Any], key: str, required: bool = True) -> list[Any]:
    value = document.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ManifestInvalid(f"{key} must be a list")
    return value


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ManifestInvalid(f"{what} must be a string")
    return value


def _descriptor(value: Any, what: str, policy: Policy) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{what} must be a descriptor object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{what}: mediaType is required")
    if not isinstance(digest, str) or not is_supported_digest(digest):
        raise ManifestInvalid(f"{what}: digest {digest!r} is not a valid sha256 or sha512 digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{what}: size must be a non-negative integer")
    if value.get("urls") is not None:
        _check_urls(value["urls"], what, policy)
    return Descriptor(media_type, digest, size, value)


def _check_urls(urls: Any, what: str, policy: Policy) -> None:
    """Foreign URLs are only ever handed to clients (the registry never fetches them), but a client that
    follows them would fetch from wherever the pusher chose: internal addresses, file:, gopher:."""
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise ManifestInvalid(f"{what}: urls must be a list of strings")
    if urls and policy.foreign_urls is None:
        raise ManifestInvalid(f"{what}: this registry accepts no foreign layer urls")
    for url in urls:
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment
                or policy.foreign_urls is None or policy.foreign_urls.fullmatch(url) is None):
            raise ManifestInvalid(f"{what}: the url {url[:200]!r} is not allowed by this registry")


def descriptor_of(manifest_media_type: str, digest: str, size: int, artifact_type: str,
                  annotations: dict[str, str]) -> dict[str, Any]:
    """A descriptor for the referrers index."""
    descriptor: dict[str, Any] = {"mediaType": manifest_media_type, "digest": digest, "size": size}
    if artifact_type:
        descriptor["artifactType"] = artifact_type
    if annotations:
        descriptor["annotations"] = annotations
    return descriptor


# --- Reading stored documents ------------------------------------------------------------------------------------
# What the pages show of a manifest (its layers, platforms, labels) comes from documents the registry already
# holds: manifests it validated when they were pushed, and image configs, which are blobs it never validated.
# These readers take whatever they find: a missing or malformed part reads as empty, they never raise.

IMAGE_CONFIGS = {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}


@dataclass(frozen=True)
class IndexEntry:
    """One manifest an index lists, with the platform it is for ("" for what the entry does not say)."""

    digest: str
    os: str
    architecture: str
    variant: str


@dataclass(frozen=True)
class Layer:
    digest: str
    media_type: str
    size: int
    command: str   # the build step that made the layer, from the image config's history ("" if unknown)


def read_object(body: bytes) -> dict[str, Any]:
    """A stored JSON object; {} when the body is not JSON, nests too deep to parse, or is no object."""
    try:
        check_depth(body)   # an image config is any blob a client pushed: 4 MiB of `[` would recurse to death
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):   # TooDeep is a ValueError
        return {}
    return document if isinstance(document, dict) else {}


def index_entries(document: dict[str, Any]) -> list[IndexEntry]:
    """The manifests an index lists, in its order."""
    entries = []
    for descriptor in _items(document.get("manifests")):
        platform = _object(descriptor.get("platform"))
        entries.append(IndexEntry(str(descriptor.get("digest", "")), str(platform.get("os", "")),
                                  str(platform.get("architecture", "")), str(platform.get("variant", ""))))
    return entries


def config_digest(document: dict[str, Any]) -> str:
    """The digest of an image manifest's config descriptor ("" when there is none)."""
    return str(_object(document.get("config")).get("digest", ""))


def image_config_digest(document: dict[str, Any]) -> str:
    """The config's digest when it is an image config, the only kind worth reading; otherwise ""."""
    config = _object(document.get("config"))
    digest = config.get("digest")
    if config.get("mediaType") not in IMAGE_CONFIGS or not isinstance(digest, str) or not is_supported_digest(digest):
        return ""
    return digest


def layers(document: dict[str, Any], image: dict[str, Any]) -> list[Layer]:
    """The manifest's layers, each with the history step that made it: the config's history lists every
    step, and the steps that made no layer (ENV, CMD...) are marked empty_layer, so the rest match in order."""
    commands = [_command(step) for step in _items(image.get("history")) if not step.get("empty_layer")]
    return [Layer(str(layer.get("digest", "")), str(layer.get("mediaType", "")), _int(layer.get("size")),
                  commands[i] if i < len(commands) else "")
            for i, layer in enumerate(_items(document.get("layers")))]


def labels(image: dict[str, Any]) -> dict[str, str]:
    """The image config's labels (config.Labels)."""
    return strings(_object(image.get("config")).get("Labels"))


def strings(value: Any) -> dict[str, str]:
    """A JSON object as str → str ({} for anything else)."""
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _command(step: dict[str, Any]) -> str:
    # Docker writes instructions that run nothing as "/bin/sh -c #(nop)  CMD [...]"; show the instruction.
    command = str(step.get("created_by") or step.get("comment") or "")
    marker = "#(nop) "
    return command.split(marker, 1)[1].strip() if marker in command else command.strip()


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list (anything else in it is skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
