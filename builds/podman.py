"""One small wrapper around podman for builds: argv lists only, a time limit, memory and pid limits where the
host's cgroups allow it (a log line says so where they don't), no network for RUN steps unless allowed, build
arguments (secret ones through the environment, not argv), several platforms as one OCI index, a layer cache per
repository, and a stop that kills every process the build started (timeout or cancel).

The process side (cgroups, rlimits, reading output, killing) is in builds/sandbox.py.

Layout under WHARF_BUILD_DIR (the worker's task uses it; cleanup_orphans reads build ids from it):
cache/<repository id> is a repository's storage root, run/<build id> a build's run root, work/<build id> its
context. A build's cgroup is named wharf-build-<run root's name>.

Builds for platforms other than the host's alone use a separate store below the cache (<cache>/platforms) and
no layer cache: podman 4.3 (buildah 1.28) reuses a cached FROM-scratch layer across platforms, so an arm64
image would come back as the next amd64 build's result."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform as platform_module
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from builds import sandbox

ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386",
                 "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
QEMU_NAMES = {"amd64": "x86_64", "arm64": "aarch64", "arm": "arm", "386": "i386", "ppc64le": "ppc64le",
              "s390x": "s390x", "riscv64": "riscv64"}
BINFMT = Path("/proc/sys/fs/binfmt_misc")
FILE_SIZE_FLOOR_MB = 64


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
    authfile: Path | None = None         # for pulling base images (the push is given its own)
    tls_verify: bool = True              # False for pulling from an http registry
    _root: Path | None = field(default=None, repr=False)      # the store build() used (see the module's note)
    _exec_format_error: bool = field(default=False, repr=False)
    _file_too_large: bool = field(default=False, repr=False)
    _failed_step: str = field(default="", repr=False)    # podman's "Error: building at STEP …" line

    def build(self, context: Path, dockerfile: Path, image: str, *, platforms: list[str],
              build_args: list[tuple[str, str, bool]], labels: dict[str, str], annotations: dict[str, str],
              network: bool) -> Outcome:
        """Build `image` (a local name) from `context`; with several platforms, `image` is a manifest list."""
        host = host_platform()
        targets = platforms or [host]
        self._root = self.storage_root if targets == [host] else self.storage_root / "platforms"
        self._root.mkdir(parents=True, exist_ok=True)
        self.run_root.mkdir(parents=True, exist_ok=True)
        isolation = self.isolation or detect_isolation()
        for target in targets:
            if not can_run(target):
                self.log(f"RUN steps for {target} need qemu-user-static registered in binfmt_misc; this host has "
                         "none: COPY-only builds work")
        cgroup = self._cgroup()
        try:
            return self._build(cgroup, isolation, context, dockerfile, image, targets, build_args, labels,
                               annotations, network)
        finally:
            if cgroup is not None:
                if cgroup.pids():
                    sandbox.stop_all(cgroup)
                cgroup.remove()

    def _build(self, cgroup: sandbox.Cgroup | None, isolation: str, context: Path, dockerfile: Path, image: str,
               targets: list[str], build_args: list[tuple[str, str, bool]], labels: dict[str, str],
               annotations: dict[str, str], network: bool) -> Outcome:
        given = {name: value for name, value, _secret in build_args}
        namespaces: list[str] = []
        if not network:
            # Without network the build cannot fetch its FROM images: pull them first, outside.
            bases = base_images(dockerfile.read_text(errors="replace"), given, targets)
            for name in {name for name, _ in bases}:
                wanted = [target for base, target in bases if base == name]
                failed = self._pull(cgroup, name, wanted)
                if failed is not None:
                    return failed
            if isolation == "chroot":
                self.log("RUN steps have no network: the build runs in a network namespace of its own "
                         "(chroot isolation refuses --network none)")
                namespaces = ["--net"]
            else:
                self.log("RUN steps have no network (--network none)")
        else:
            self.log("RUN steps have network access")
        if isolation == "chroot":
            # Chroot isolation shares the worker's process namespace: a RUN step (root, with CAP_KILL) could see
            # and kill any process of the host (tested: it killed one). In a PID namespace of its own, with its
            # own /proc, it sees only the build's processes; all of them die with it.
            namespaces = ["--pid", "--fork", "--mount-proc", *namespaces]
        prefix = ["unshare", *namespaces, "--"] if namespaces else []
        argv = [*prefix, *self._podman(), "build", "--isolation", isolation, "--format", "oci", "--force-rm",
                "-f", str(dockerfile), "--pull=missing" if network else "--pull=never"]
        if network:
            argv += self._registry_flags()
        argv.append("--layers" if self._root == self.storage_root else "--layers=false")
        if isolation == "oci" and cgroup is not None:
            argv += ["--cgroup-parent", "/" + cgroup.name]   # the runtime's cgroups nest inside the build's
        if len(targets) > 1:
            self._quiet(["manifest", "rm", image])   # a leftover list of the same name (a build run again)
            created = self._run(cgroup, [*self._podman(), "manifest", "create", image])
            if not created.ok:
                return created
            argv += ["--platform", ",".join(targets), "--manifest", image]
        else:
            if targets != [host_platform()]:
                argv += ["--platform", targets[0]]
            argv += ["-t", image]
        env = dict(os.environ)
        for name, value, secret in build_args:
            if secret:
                argv += ["--build-arg", name]   # podman reads the value from its environment
                env[name] = value
            else:
                argv += ["--build-arg", f"{name}={value}"]
        for key, value in labels.items():
            argv += ["--label", f"{key}={value}"]
        for key, value in annotations.items():
            argv += ["--annotation", f"{key}={value}"]
        argv.append(str(context))
        # The rlimit holds for podman too, and its chroot RUN writes a copy of the podman binary (~33 MB): below
        # a floor every RUN step would die of SIGXFSZ.
        outcome = self._run(cgroup, argv, env=env, file_size_mb=max(self.limits.file_size_mb, FILE_SIZE_FLOOR_MB))
        if outcome.returncode != 0 or outcome.reason == "timed out":
            if cgroup is not None and cgroup.out_of_memory():
                outcome.reason = "out of memory"
            elif cgroup is not None and cgroup.too_many_processes():
                outcome.reason = "too many processes"
            elif not outcome.reason and self._exec_format_error and not all(can_run(t) for t in targets):
                outcome.reason = ("exec format error: RUN steps for a foreign platform need qemu-user-static "
                                  "registered in binfmt_misc")
            elif not outcome.reason and self._file_too_large:
                outcome.reason = (f"a file went over the file size limit of {self.limits.file_size_mb} MiB "
                                  "(WHARF_BUILD_FILE_SIZE_LIMIT)")
            elif not outcome.reason and self._failed_step:
                outcome.reason = failed_step(self._failed_step)
        if not outcome.ok:
            self._remove_leftovers()
        return outcome

    def push(self, image: str, destination: str, *, authfile: Path, tls_verify: bool, digestfile: Path,
             manifest_list: bool) -> Outcome:
        """Push `image` (or the manifest list, with all its images) to `destination` (docker://host/ns/name:tag)."""
        flags = ["--authfile", str(authfile), f"--tls-verify={'true' if tls_verify else 'false'}",
                 "--digestfile", str(digestfile), "--format", "oci"]
        if manifest_list:
            argv = [*self._podman(), "manifest", "push", "--all", *flags, image, destination]
        else:
            argv = [*self._podman(), "push", *flags, image, destination]
        return self._run(None, argv)

    def remove(self, image: str) -> None:
        """Forget the built image's name (its layers stay in the cache for the next build)."""
        if self._store() == self.storage_root:
            self._quiet(["untag", image])   # untagged, the image still serves as the next build's cache
            return
        # The per-platform store has no layer cache to keep: drop the list and the images in it.
        listed = self._quiet(["manifest", "inspect", image])
        if listed.returncode == 0:
            digests = {entry.get("digest") for entry in _json(listed.stdout).get("manifests", [])}
            self._quiet(["manifest", "rm", image])
            images = self._quiet(["images", "--all", "--no-trunc", "--format", "{{.ID}} {{.Digest}}"])
            ids = [line.split()[0] for line in images.stdout.splitlines()
                   if len(line.split()) == 2 and line.split()[1] in digests]
            if ids:
                self._quiet(["rmi", "--force", *ids])
        else:
            self._quiet(["rmi", image])

    # -- internals --

    def _store(self) -> Path:
        return self._root or self.storage_root

    def _podman(self) -> list[str]:
        return ["podman", "--root", str(self._store()), "--runroot", str(podman_run_root(self._store())),
                "--storage-driver", self.driver, "--cgroup-manager", "cgroupfs", "--events-backend", "none"]

    def _registry_flags(self) -> list[str]:
        flags = [f"--tls-verify={'true' if self.tls_verify else 'false'}"]
        if self.authfile is not None:
            flags += ["--authfile", str(self.authfile)]
        return flags

    def _cgroup(self) -> sandbox.Cgroup | None:
        try:
            return sandbox.Cgroup.create(sandbox.CGROUP_PREFIX + self.run_root.name, self.limits.memory_mb,
                                         self.limits.pids)
        except OSError as error:
            self.log(f"memory and process limits are not enforced on this host: {error}")
            return None

    def _run(self, cgroup: sandbox.Cgroup | None, argv: list[str], *, env: dict[str, str] | None = None,
             file_size_mb: int = 0) -> Outcome:
        self.commands.append(list(argv))
        env = dict(env or os.environ)
        env[sandbox.MARKER] = str(self.run_root)   # how cleanup_orphans finds this build's processes
        watch = sandbox.Watch(self.limits.deadline, self.cancelled, self.storage_root, self.limits.min_free_mb)

        def log(line: str) -> None:
            if "exec format error" in line:
                self._exec_format_error = True
            if "file size limit exceeded" in line.lower():
                self._file_too_large = True
            if line.startswith(FAILED_STEP):
                self._failed_step = line
            self.log(line)

        done = sandbox.run(argv, log=log, watch=watch, env=env, cgroup=cgroup, file_size_mb=file_size_mb)
        return Outcome(done.returncode, done.reason)

    def _remove_leftovers(self) -> None:
        """A build stopped mid-RUN leaves its working container in the store (a full vfs copy): remove such
        containers, but only while no other build uses this store (theirs would look the same)."""
        if sandbox.processes_using(str(self._store())):
            return
        listed = self._quiet(["ps", "--all", "--external", "--format", "{{.ID}}"])
        ids = listed.stdout.split() if listed.returncode == 0 else []
        if ids:
            self._quiet(["rm", "--force", *ids])

    def _pull(self, cgroup: sandbox.Cgroup | None, name: str, targets: list[str]) -> Outcome | None:
        """Pull `name` for each target. For several, a local manifest list of that name then holds each pulled
        image: a later pull of the same name retags it, and `build --pull=never` finds each platform's image
        through the list."""
        if len(targets) == 1 and self._have(name, targets[0]):
            return None
        if len(targets) > 1:
            self._quiet(["manifest", "rm", name])
        ids = []
        for target in targets:
            pulled = self._run(cgroup, [*self._podman(), "pull", *self._registry_flags(), "--platform", target, name])
            if not pulled.ok:
                self.log(f"Could not pull the base image {name} ({target})")
                return pulled
            ids.append(self._quiet(["image", "inspect", "--format", "{{.Id}}", name]).stdout.strip())
        if len(targets) > 1:
            self._quiet(["untag", name])
            self._quiet(["manifest", "create", name])
            for image_id in ids:
                self._quiet(["manifest", "add", name, f"containers-storage:{image_id}"])
        return None

    def _have(self, image: str, target: str) -> bool:
        """Whether the store has `image` for `target` already (podman 4.3's pull has no --policy=missing)."""
        found = self._quiet(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", image])
        return found.returncode == 0 and found.stdout.strip() == "/".join(target.split("/")[:2])

    def _quiet(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        """A small bookkeeping command whose output is not the build's log."""
        argv = [*self._podman(), *args]
        self.commands.append(argv)
        timeout = max(5.0, self.limits.deadline - time.monotonic())
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=min(timeout, 120))
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 1, "", "timed out")


def podman_run_root(storage_root: Path) -> Path:
    """The --runroot podman gets for a store: one per store, not per build. podman records the runroot in the
    store's own database and refuses another one later ("database configuration mismatch"), and refuses one
    longer than 50 characters; so a short directory in /tmp named after the store."""
    return Path("/tmp") / f"wharf-run-{hashlib.sha256(str(storage_root).encode()).hexdigest()[:12]}"


def _json(text: str) -> dict:  # type: ignore[type-arg]
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-+])([^}]*))?\}|\$(\w+)")


def _expand(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        value = values.get(name, "")
        if match.group(2) == "-":
            return value or match.group(3)
        if match.group(2) == "+":
            return match.group(3) if value else ""
        return value

    return _VARIABLE.sub(one, text)


def _instructions(text: str) -> list[list[str]]:
    """The Dockerfile's instructions as word lists (continuation lines joined, comments dropped)."""
    joined: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    if current:
        joined.append(current)
    return [line.split() for line in joined if line.split()]


def base_images(dockerfile: str, build_args: dict[str, str], platforms: list[str]) -> list[tuple[str, str]]:
    """The images a Dockerfile builds FROM (and COPY --from), each with the platform to pull it for: not
    `scratch`, not an earlier stage; ARGs declared before the first FROM substituted."""
    host = host_platform()
    args: dict[str, str] = {}
    stages: set[str] = set()
    found: list[tuple[str, str]] = []

    def add(name: str, fixed: str) -> None:
        for target in [fixed] if fixed else platforms:
            if name.lower() != "scratch" and name.lower() not in stages and (name, target) not in found:
                found.append((name, target))

    seen_from = False
    for words in _instructions(dockerfile):
        keyword = words[0].upper()
        if keyword == "ARG" and not seen_from:
            for word in words[1:]:
                name, has_default, default = word.partition("=")
                args[name] = build_args.get(name, default.strip("\"'") if has_default else "")
        elif keyword == "FROM":
            seen_from = True
            fixed = ""
            rest = []
            for word in words[1:]:
                if word.startswith("--platform="):
                    values = {**args, "BUILDPLATFORM": host, "TARGETPLATFORM": ""}
                    fixed = _expand(word.partition("=")[2], values)
                elif not word.startswith("--"):
                    rest.append(word)
            if not rest:
                continue
            add(_expand(rest[0], args), fixed)
            if len(rest) >= 3 and rest[1].upper() == "AS":
                stages.add(rest[2].lower())
        elif keyword in ("COPY", "ADD"):
            for word in words[1:]:
                if word.startswith("--from="):
                    source = word.partition("=")[2]
                    if not source.isdigit():
                        add(source, "")
    return found


FAILED_STEP = 'Error: building at STEP "'


def failed_step(line: str) -> str:
    """podman's 'Error: building at STEP "RUN x": exit status 1' as 'step RUN x ended with exit status 1'."""
    step, _, status = line.removeprefix(FAILED_STEP).rpartition('": ')
    step = step if len(step) <= 200 else step[:200] + "…"
    return f"step {step} ended with {status}" if step else line.removeprefix("Error: ")


@functools.cache
def detect_isolation() -> str:
    """"oci" where the OCI runtime works with this host's cgroups, else "chroot" (e.g. hybrid cgroups, where crun
    refuses); WHARF_BUILD_ISOLATION overrides."""
    from django.conf import settings

    chosen = getattr(settings, "WHARF_BUILD_ISOLATION", "") if settings.configured else ""
    chosen = chosen or os.environ.get("WHARF_BUILD_ISOLATION", "")
    if chosen:
        return chosen
    return "chroot" if _hybrid_cgroups() else "oci"


def _hybrid_cgroups() -> bool:
    """cgroup v1 controllers with a cgroup2 mount beside them (crun: "cgroups in hybrid mode not supported")."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    kinds = {}
    for line in mounts:
        fields = line.split()
        if " - " in line:
            kinds[fields[4]] = line.split(" - ", 1)[1].split()[0]
    has_v1 = any(kind == "cgroup" for kind in kinds.values())
    return has_v1 and any(kind == "cgroup2" for kind in kinds.values())


def host_platform() -> str:
    """linux/amd64, linux/arm64, …: what this worker builds natively."""
    machine = platform_module.machine()
    return f"linux/{ARCHITECTURES.get(machine, machine)}"


def can_run(platform: str) -> bool:
    """Whether RUN steps can execute for `platform` here: the host's own, or one qemu-user-static is registered
    for in binfmt_misc. (COPY-only builds work for any platform.)"""
    if platform.split("/")[:2] == host_platform().split("/")[:2]:
        return True
    architecture = platform.split("/")[1] if "/" in platform else platform
    registration = BINFMT / f"qemu-{QEMU_NAMES.get(architecture, architecture)}"
    try:
        return registration.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        return False


def cleanup_orphans(active_build_ids: set[int], *, build_dir: Path | None = None) -> None:
    """Kill what builds left running on this host (a worker killed mid-build) and remove their cgroups and
    working directories, except those of `active_build_ids`. Only names that are build ids count (wharf-build-<id>,
    run/<id>, work/<id>): anything else there is not ours to judge."""
    if build_dir is None:
        from django.conf import settings

        build_dir = Path(settings.WHARF_BUILD_DIR)
    for name in sandbox.build_cgroups():
        build_id = name[len(sandbox.CGROUP_PREFIX):]
        if build_id.isdigit() and int(build_id) not in active_build_ids:
            group = sandbox.Cgroup.existing(name)
            if group is not None:
                sandbox.stop_all(group)
                group.remove()
    for kind in ("run", "work"):
        parent = build_dir / kind
        if not parent.is_dir():
            continue
        for entry in parent.iterdir():
            if entry.name.isdigit() and int(entry.name) not in active_build_ids:
                if kind == "run":
                    sandbox.kill_marked(str(entry))   # hosts without cgroups: find podman by its environment
                shutil.rmtree(entry, ignore_errors=True)
