"""A build's source on the worker's disk: a shallow clone of one commit (gitpython), or an uploaded Dockerfile or
context archive unpacked with every path checked. Nothing is written outside the build's own directory, and
credentials never appear in argv, URLs or logs.

(Interface fixed here; the implementation is being written.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


class SourceError(Exception):
    """The source cannot be fetched or unpacked; the message is for the build's log and error line."""


def clone(url: str, commit: str, dest: Path, *, ref: str = "", deploy_key: str | None = None,
          log: Callable[[str], None] = print) -> str:
    """A shallow clone of `commit` (or, when it is empty, of `ref`'s head) of `url` into `dest` (which must not
    exist yet); returns the full id of the commit checked out. A deploy key (OpenSSH private key text) is
    written to a 0600 file outside `dest` for the length of the clone and used through GIT_SSH_COMMAND."""
    raise NotImplementedError


def resolve(url: str, ref: str, *, deploy_key: str | None = None) -> str:
    """The commit id that `ref` (a branch or tag name, or refs/…) points at now (git ls-remote)."""
    raise NotImplementedError


def unpack(upload: BinaryIO, name: str, dest: Path, *, max_bytes: int, max_entries: int = 100_000) -> None:
    """Unpack an upload into `dest` (an existing empty directory): a tar, tar.gz or zip archive (told by its
    first bytes, not its name), or else a Dockerfile (written as dest/Dockerfile). Refuses absolute paths,
    `..`, links that point outside `dest`, devices, more than `max_bytes` unpacked or `max_entries` entries
    (SourceError, counted while streaming, so a decompression bomb stops early)."""
    raise NotImplementedError
