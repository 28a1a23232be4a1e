"""The bounds an indexer keeps while it reads a layer an attacker may have written, and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024
GiB = 1024 * MiB


class LayerError(Exception):
    """A layer that cannot be indexed within its limits (too big, corrupt, truncated); `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    # Bytes of the uncompressed tar stream, the one figure a decompression bomb inflates.
    max_layer_size: int = 8 * GiB
    max_entries: int = 1_000_000
    # One package database or metadata file read into memory (rpmdb.sqlite of a large Fedora is ~30 MiB).
    max_file_size: int = 128 * MiB
    # All such files of one layer together (a node image holds thousands of small package.json files).
    max_read_total: int = 512 * MiB
    # Inside one database: a real dpkg status of a big Ubuntu has ~100,000 lines and ~3,000 packages.
    max_lines: int = 500_000
    max_packages: int = 100_000
    # Long-name and pax headers are read into memory by tarfile: keep them small.
    max_header_size: int = 1 * MiB
