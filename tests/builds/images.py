"""A tiny base image with a shell for build tests: FROM scratch, Debian's static busybox as /bin/busybox and
/bin/sh, made with `podman import` (no build, no network) in a given storage root."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from builds.podman import podman_run_root

BUSYBOX_IMAGE = "localhost/wharf-test/busybox:1"


def podman_flags(storage_root: Path, driver: str = "vfs") -> list[str]:
    """podman's global flags as builds.podman passes them for this store."""
    return ["podman", "--root", str(storage_root), "--runroot", str(podman_run_root(storage_root)),
            "--storage-driver", driver, "--cgroup-manager", "cgroupfs", "--events-backend", "none"]


def make_busybox_image(storage_root: Path, run_root: Path, name: str = BUSYBOX_IMAGE, arch: str = "") -> str:
    """Import the busybox base image as `name` into the store at storage_root; returns the name. With `arch`, the
    image claims that architecture (its busybox stays the host's: for COPY-only multi-platform tests)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    archive = run_root.parent / f"{run_root.name}-busybox.tar"
    run_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w") as tar:
        for directory in ("bin", "tmp"):
            entry = tarfile.TarInfo(directory)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(entry)
        tar.add(busybox, arcname="bin/busybox")
        shell = tarfile.TarInfo("bin/sh")
        shell.type, shell.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(shell)
    subprocess.run([*podman_flags(storage_root), "import", "--change", "ENV PATH=/bin",
                    *(["--arch", arch] if arch else []),
                    str(archive), name], check=True, capture_output=True)
    archive.unlink()
    return name
