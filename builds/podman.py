"""One small wrapper around podman for builds: argv lists only, a time limit, memory and pid limits where the
host's cgroups allow it (a log line says so where they don't), no network for RUN steps unless allowed, build
arguments (secret ones through the environment, not argv), several platforms as one OCI index, a layer cache per
repository, and a stop that kills every process the build started (timeout or cancel).

(Interface fixed here; the implementation is being written.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Outcome:
    returncode: int
    reason: str = ""     # "" when it ran to its end; else "timed out", "cancelled", "out of disk space",
                         # "out of memory", "too many processes" (what the page shows)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.reason


@dataclass
class Limits:
    deadline: float                      # time.monotonic() by which everything must have ended
    memory_mb: int = 4096
    pids: int = 1024
    file_size_mb: int = 10240
    min_free_mb: int = 1024              # the build stops when its disk has less free than this


@dataclass
class Podman:
    storage_root: Path                   # the repository's layer cache (podman --root)
    run_root: Path                       # podman --runroot, per build
    log: Callable[[str], None]           # one call per output line (the caller masks and stores it)
    cancelled: Callable[[], bool]        # polled about once a second: True stops the build
    limits: Limits
    driver: str = "vfs"
    isolation: str = ""                  # "" detects (see detect_isolation)
    commands: list[list[str]] = field(default_factory=list)   # every argv run, secrets masked

    def build(self, context: Path, dockerfile: Path, image: str, *, platforms: list[str],
              build_args: list[tuple[str, str, bool]], labels: dict[str, str], annotations: dict[str, str],
              network: bool) -> Outcome:
        """Build `image` (a local name) from `context`; with several platforms, `image` is a manifest list."""
        raise NotImplementedError

    def push(self, image: str, destination: str, *, authfile: Path, tls_verify: bool, digestfile: Path,
             manifest_list: bool) -> Outcome:
        """Push `image` (or the manifest list, with all its images) to `destination` (docker://host/ns/name:tag)."""
        raise NotImplementedError

    def remove(self, image: str) -> None:
        """Forget the built image's name (its layers stay in the cache for the next build)."""
        raise NotImplementedError


def detect_isolation() -> str:
    """"oci" where the OCI runtime works with this host's cgroups, else "chroot" (e.g. hybrid cgroups, where crun
    refuses); WHARF_BUILD_ISOLATION overrides."""
    raise NotImplementedError


def host_platform() -> str:
    """linux/amd64, linux/arm64, …: what this worker builds natively."""
    raise NotImplementedError


def can_run(platform: str) -> bool:
    """Whether RUN steps can execute for `platform` here: the host's own, or one qemu-user-static is registered
    for in binfmt_misc. (COPY-only builds work for any platform.)"""
    raise NotImplementedError


def cleanup_orphans(active_build_ids: set[int]) -> None:
    """Kill what builds left running on this host (a worker killed mid-build) and remove their cgroups and
    working directories, except those of `active_build_ids`."""
    raise NotImplementedError
