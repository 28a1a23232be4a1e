"""The process side of a build: a cgroup of its own (memory and pid limits, and the one place to find every
process it started), a file-size rlimit, a reader that hands output on line by line, and a stop that kills
everything (timeout, cancel, low disk).

cgroup v1 (Debian's hybrid layout: controllers in /sys/fs/cgroup/<controller>, an empty cgroup2 beside them) and
a pure v2 unified hierarchy are both handled; where neither can be written, `Cgroup.create` raises OSError and
the caller logs that the limits are not enforced."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "wharf-build-"
MARKER = "WHARF_BUILD_RUN_ROOT"  # in the environment of every process a build starts (inherited by its children)
MAX_LINE = 16 * 1024          # a longer "line" (a progress bar without breaks) is handed on in pieces
TERM_GRACE = 3.0              # seconds between SIGTERM and SIGKILL
_BREAKS = re.compile(rb"\r\n|\r|\n")


def unified() -> bool:
    """A pure cgroup v2 host (not the hybrid layout, whose v2 mount at /sys/fs/cgroup/unified has no controllers)."""
    return (CGROUP_ROOT / "cgroup.controllers").exists()


@dataclass
class Cgroup:
    """One build's cgroup: one directory on v2, one per controller (memory, pids) on v1."""

    name: str
    dirs: list[Path]
    v2: bool

    @classmethod
    def create(cls, name: str, memory_mb: int, pids: int) -> Cgroup:
        if unified():
            directory = CGROUP_ROOT / name
            # The root must hand the controllers down before a child can limit them.
            control = (CGROUP_ROOT / "cgroup.subtree_control").read_text()
            if "memory" not in control.split() or "pids" not in control.split():
                (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory +pids")
            directory.mkdir(exist_ok=True)
            group = cls(name, [directory], v2=True)
            try:
                (directory / "memory.max").write_text(str(memory_mb * 1024 * 1024))
                _write_if_present(directory / "memory.swap.max", "0")
                (directory / "pids.max").write_text(str(pids))
            except OSError:
                group.remove()
                raise
            return group
        memory, pid_dir = CGROUP_ROOT / "memory" / name, CGROUP_ROOT / "pids" / name
        if not (memory.parent / "cgroup.procs").exists() or not (pid_dir.parent / "cgroup.procs").exists():
            raise OSError(f"no writable memory and pids cgroup controllers under {CGROUP_ROOT}")
        memory.mkdir(exist_ok=True)
        group = cls(name, [memory], v2=False)
        try:
            pid_dir.mkdir(exist_ok=True)
            group.dirs.append(pid_dir)
            limit = str(memory_mb * 1024 * 1024)
            (memory / "memory.limit_in_bytes").write_text(limit)
            # Swap counts too where the kernel accounts it: otherwise the limit only moves pages to swap.
            _write_if_present(memory / "memory.memsw.limit_in_bytes", limit)
            (pid_dir / "pids.max").write_text(str(pids))
        except OSError:
            group.remove()
            raise
        return group

    @classmethod
    def existing(cls, name: str) -> Cgroup | None:
        """The cgroup `name` left behind (for cleanup), or None."""
        if unified():
            directory = CGROUP_ROOT / name
            return cls(name, [directory], v2=True) if directory.is_dir() else None
        dirs = [d for d in (CGROUP_ROOT / "memory" / name, CGROUP_ROOT / "pids" / name) if d.is_dir()]
        return cls(name, dirs, v2=False) if dirs else None

    def join(self) -> None:
        """Move the calling process in (called in the child before exec; its children inherit it)."""
        pid = str(os.getpid())
        for directory in self.dirs:
            with open(directory / "cgroup.procs", "w") as handle:
                handle.write(pid)

    def pids(self) -> set[int]:
        """Every process in the cgroup and in the cgroups nested below it (an OCI runtime's, with
        --cgroup-parent)."""
        found: set[int] = set()
        for directory in self.dirs:
            for procs in _tree(directory, "cgroup.procs"):
                with contextlib.suppress(OSError):
                    found.update(int(line) for line in procs.read_text().split())
        return found

    def signal(self, number: int) -> None:
        if self.v2 and number == signal.SIGKILL:
            for directory in self.dirs:
                if _write_if_present(directory / "cgroup.kill", "1"):
                    return
        for pid in self.pids():
            _kill(pid, number)

    def out_of_memory(self) -> bool:
        if self.v2:
            return _counter(self.dirs[0] / "memory.events", "oom_kill") > 0
        memory = self.dirs[0]
        oom = _counter(memory / "memory.oom_control", "oom_kill")
        if oom > 0:
            return True
        # Older kernels have no oom_kill count: having hit the limit at all is the next best sign.
        if not (memory / "memory.oom_control").exists():
            try:
                return int((memory / "memory.failcnt").read_text()) > 0
            except (OSError, ValueError):
                return False
        return False

    def too_many_processes(self) -> bool:
        directory = self.dirs[0] if self.v2 else self.dirs[-1]
        return _counter(directory / "pids.events", "max") > 0

    def remove(self) -> None:
        """Remove the directories, nested ones first (a cgroup directory only goes once it has no process)."""
        for directory in self.dirs:
            for child in sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                _rmdir(child)
            _rmdir(directory)

    def gone(self) -> bool:
        return not any(directory.exists() for directory in self.dirs)


def _tree(directory: Path, filename: str) -> list[Path]:
    try:
        nested = [p / filename for p in directory.rglob("*") if p.is_dir()]
    except OSError:
        nested = []
    return [directory / filename, *nested]


def _write_if_present(path: Path, value: str) -> bool:
    if not path.exists():
        return False
    try:
        path.write_text(value)
    except OSError:
        return False
    return True


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _rmdir(directory: Path) -> None:
    for _ in range(50):
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)   # the kernel lets go of a just-killed process's cgroup a moment later


def _kill(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, number)


def descendants(root: int) -> set[int]:
    """The processes below `root` (by parent pid), for hosts without a cgroup to find them in."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@dataclass
class Watch:
    """What stops a running command early, checked about once a second."""

    deadline: float
    cancelled: Callable[[], bool]
    disk: Path | None = None
    min_free_mb: int = 0

    def reason(self) -> str:
        if time.monotonic() >= self.deadline:
            return "timed out"
        if self.cancelled():
            return "cancelled"
        if self.disk is not None and shutil.disk_usage(self.disk).free < self.min_free_mb * 1024 * 1024:
            return "out of disk space"
        return ""


@dataclass
class Run:
    returncode: int
    reason: str = ""
    lines: list[str] = field(default_factory=list)   # the last lines of output (for hints like exec format error)


def run(argv: list[str], *, log: Callable[[str], None], watch: Watch, env: dict[str, str] | None = None,
        cgroup: Cgroup | None = None, file_size_mb: int = 0) -> Run:
    """Run argv (no shell) with output merged and handed to `log` line by line; stop it and everything it started
    when `watch` says so."""

    def in_child() -> None:
        if cgroup is not None:
            cgroup.join()
        if file_size_mb:
            limit = file_size_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, start_new_session=True, preexec_fn=in_child)
    tail: list[str] = []
    reader = threading.Thread(target=_read, args=(process, log, tail), daemon=True)
    reader.start()
    reason = ""
    while True:
        try:
            process.wait(timeout=max(0.05, min(1.0, watch.deadline - time.monotonic())))
            break
        except subprocess.TimeoutExpired:
            pass
        reason = watch.reason()
        if reason:
            stop(process, cgroup)
            break
    if cgroup is not None and cgroup.pids():
        stop(process, cgroup)    # podman has gone but left something behind in the cgroup
    reader.join(timeout=5)
    return Run(process.wait(), reason, tail)


def _read(process: subprocess.Popen[bytes], log: Callable[[str], None], tail: list[str]) -> None:
    assert process.stdout is not None
    fd = process.stdout.fileno()

    def emit(raw: bytes) -> None:
        if raw.strip():
            line = raw.decode("utf-8", errors="replace")
            tail.append(line)
            del tail[:-50]
            log(line)

    pending = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = _BREAKS.split(pending)
        for line in lines:
            emit(line)
        while len(pending) > MAX_LINE:
            emit(pending[:MAX_LINE])
            pending = pending[MAX_LINE:]
    emit(pending)
    process.stdout.close()


def stop(process: subprocess.Popen[bytes] | None, cgroup: Cgroup | None, pids: set[int] | None = None) -> None:
    """SIGTERM, a short grace, then SIGKILL to the process group, every descendant, every process in the cgroup
    (and `pids`), until none is left."""
    ends = time.monotonic() + TERM_GRACE
    number = signal.SIGTERM
    extra = set(pids or ())
    while True:
        running = process is not None and process.poll() is None
        targets = {pid for pid in extra if Path(f"/proc/{pid}").exists()}
        if running:
            assert process is not None
            targets |= descendants(process.pid) | {process.pid}
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, number)
        if cgroup is not None:
            targets |= cgroup.pids()
        if not targets:
            return
        if number == signal.SIGKILL and cgroup is not None:
            cgroup.signal(signal.SIGKILL)
        for pid in targets:
            _kill(pid, number)
        time.sleep(0.1)
        if number == signal.SIGTERM and time.monotonic() >= ends:
            number = signal.SIGKILL
        if time.monotonic() > ends + 30:
            return   # unkillable (D state): give up rather than hang the worker


def stop_all(cgroup: Cgroup) -> None:
    stop(None, cgroup)


def build_cgroups() -> set[str]:
    """The names of the build cgroups on this host (any build's, any worker's)."""
    parents = [CGROUP_ROOT] if unified() else [CGROUP_ROOT / "memory", CGROUP_ROOT / "pids"]
    names: set[str] = set()
    for parent in parents:
        with contextlib.suppress(OSError):
            names.update(p.name for p in parent.iterdir() if p.is_dir() and p.name.startswith(CGROUP_PREFIX))
    return names


def processes_using(argument: str) -> set[int]:
    """The processes (not this one) whose command line has `argument` as one of its words."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                words = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argument.encode() in words:
                found.add(int(entry.name))
    return found


def kill_marked(run_root: str) -> None:
    """Stop every process whose environment names `run_root` as its build's (see MARKER), and what it started."""
    wanted = f"{MARKER}={run_root}".encode()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if wanted in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
            except OSError:
                continue
    for pid in list(found):
        found |= descendants(pid)
    if found:
        stop(None, None, found)
