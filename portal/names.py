"""The OCI Distribution grammar for repository names, tags and digests, and the usernames that name no account."""

from __future__ import annotations

import re

PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*")
PATH_COMPONENT_RE = re.compile(PATH_COMPONENT)
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
# The algorithms this registry computes, with the exact shape of their encoded part.
DIGEST_ALGORITHMS = {"sha256": re.compile(r"[a-f0-9]{64}"), "sha512": re.compile(r"[a-f0-9]{128}")}
MAX_NAME_LENGTH = 255
# Usernames that mean "the token says who I am", as Quay ($oauthtoken), Harbor and GitHub accept: the
# credentials take the account from the token, and the abuse limits count no account under them.
TOKEN_USERNAMES = frozenset({"$token", "$oauthtoken", "token", "oauth2"})


def is_valid_name(name: str) -> bool:
    """A repository name: at least `namespace/name`, each component in the OCI grammar."""
    return len(name) <= MAX_NAME_LENGTH and "/" in name and NAME_RE.fullmatch(name) is not None


def is_valid_tag(tag: str) -> bool:
    return TAG_RE.fullmatch(tag) is not None


def is_digest(reference: str) -> bool:
    """Whether the reference has the shape of a digest (any algorithm), as opposed to a tag."""
    return ":" in reference


def is_supported_digest(digest: str) -> bool:
    """A digest whose algorithm this registry computes and whose encoding is well-formed."""
    if DIGEST_RE.fullmatch(digest) is None:
        return False
    algorithm, encoded = digest.split(":", 1)
    pattern = DIGEST_ALGORITHMS.get(algorithm)
    return pattern is not None and pattern.fullmatch(encoded) is not None
