"""builds.podman against real podman: real builds in a store of their own per test (tiny images: vfs copies),
limits that stop what a build started, no network unless allowed, several platforms as one list, pushes to a
real registry (Debian's docker-registry)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from builds import podman, sandbox
from builds.podman import Limits, Podman, base_images
from tests.builds.images import BUSYBOX_IMAGE, make_busybox_image, podman_flags
from tests.conftest import IN_CI, require_tool

_count = itertools.count()


@pytest.fixture(autouse=True)
def needs_podman(tmp_path: Path) -> Iterator[None]:
    require_tool("podman")
    yield
    # podman's per-store runroots live in /tmp (builds.podman.podman_run_root): remove this test's.
    for store in (tmp_path / "cache", tmp_path / "cache" / "platforms", tmp_path / "seed" / "cache"):
        shutil.rmtree(podman.podman_run_root(store), ignore_errors=True)


class Builder:
    """One test's builder: a store, a run root (not a build id: cleanup_orphans leaves such names alone) and the
    log as a list."""

    def __init__(self, tmp_path: Path, **limits: int) -> None:
        self.lines: list[str] = []
        self.stop_after: float | None = None
        run_root = tmp_path / "run" / f"t{os.getpid()}-{next(_count)}"
        seconds = limits.pop("seconds", 60)
        limits.setdefault("min_free_mb", 10)
        self.limits = Limits(deadline=time.monotonic() + seconds, **limits)
        self.podman = Podman(tmp_path / "cache", run_root, self.lines.append, self.cancelled, self.limits)
        self.started = time.monotonic()

    def cancelled(self) -> bool:
        return self.stop_after is not None and time.monotonic() - self.started > self.stop_after

    def base(self) -> None:
        make_busybox_image(self.podman.storage_root, self.podman.run_root)

    def build(self, tmp_path: Path, dockerfile: str, *, platforms: list[str] | None = None,
              build_args: list[tuple[str, str, bool]] | None = None, network: bool = False,
              image: str = "localhost/out:1", files: dict[str, str] | None = None) -> podman.Outcome:
        context = tmp_path / "context"
        context.mkdir(exist_ok=True)
        (context / "Dockerfile").write_text(dockerfile)
        for name, text in (files or {}).items():
            (context / name).write_text(text)
        self.started = time.monotonic()
        return self.podman.build(context, context / "Dockerfile", image, platforms=platforms or [],
                                 build_args=build_args or [], labels={"org.example.built-by": "wharf"},
                                 annotations={"org.example.note": "test"}, network=network)

    def podman_cli(self, *args: str, store: Path | None = None) -> str:
        argv = [*podman_flags(store or self.podman.storage_root), *args]
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout

    @property
    def cgroup_name(self) -> str:
        return sandbox.CGROUP_PREFIX + self.podman.run_root.name


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return [pid for pid in found if pid != os.getpid()]


def test_a_copy_only_build_from_scratch_makes_an_image_with_its_labels_and_annotations(tmp_path: Path) -> None:
    builder = Builder(tmp_path)
    outcome = builder.build(tmp_path, "FROM scratch\nCOPY hello.txt /hello.txt\n", files={"hello.txt": "hi\n"})
    assert outcome.ok, builder.lines
    inspected = json.loads(builder.podman_cli("image", "inspect", "localhost/out:1"))[0]
    assert inspected["Labels"]["org.example.built-by"] == "wharf"
    assert inspected["Annotations"]["org.example.note"] == "test"
    build_argv = next(argv for argv in builder.podman.commands if "build" in argv)
    assert build_argv[:6] == ["unshare", "--pid", "--fork", "--mount-proc", "--net", "--"] \
        or podman.detect_isolation() == "oci"
    flags = podman_flags(builder.podman.storage_root)
    assert build_argv[build_argv.index("podman"):][:11] == flags
    assert "--layers" in build_argv and "--pull=never" in build_argv
    builder.podman.remove("localhost/out:1")
    assert subprocess.run([*podman_flags(builder.podman.storage_root), "image",
                           "exists", "localhost/out:1"]).returncode == 1


def test_run_steps_without_network_see_only_a_down_loopback(tmp_path: Path) -> None:
    builder = Builder(tmp_path)
    builder.base()
    outcome = builder.build(tmp_path, f"FROM {BUSYBOX_IMAGE}\n"
                            "RUN busybox ip -o link; busybox nc -w 2 10.0.0.1 80 </dev/null || echo no-network-here\n")
    assert outcome.ok, builder.lines
    assert "no-network-here" in builder.lines
    assert not any("eth" in line for line in builder.lines)
    assert any("network namespace" in line or "--network none" in line for line in builder.lines)


def test_a_run_step_that_needs_the_network_fails_without_it(tmp_path: Path) -> None:
    builder = Builder(tmp_path)
    builder.base()
    outcome = builder.build(tmp_path, f"FROM {BUSYBOX_IMAGE}\nRUN busybox nc -w 2 10.0.0.1 80 </dev/null\n")
    assert outcome.returncode != 0
    assert outcome.reason == "step RUN busybox nc -w 2 10.0.0.1 80 </dev/null ended with exit status 1"
    assert any("nc:" in line or "Network is unreachable" in line for line in builder.lines), builder.lines


def test_a_second_build_in_the_same_cache_with_its_own_run_root_reuses_the_layers(tmp_path: Path) -> None:
    first = Builder(tmp_path)
    dockerfile = "FROM scratch\nCOPY hello.txt /hello.txt\n"
    assert first.build(tmp_path, dockerfile, files={"hello.txt": "hi\n"}).ok, first.lines
    second = Builder(tmp_path)
    assert second.podman.run_root != first.podman.run_root
    assert second.build(tmp_path, dockerfile, image="localhost/again:1").ok, second.lines
    assert any("Using cache" in line for line in second.lines)


def test_a_run_step_that_never_ends_stops_at_the_deadline_and_leaves_no_process(tmp_path: Path) -> None:
    marker = f"wharf-loop-{uuid.uuid4().hex[:8]}"
    builder = Builder(tmp_path, seconds=6)
    builder.base()
    started = time.monotonic()
    outcome = builder.build(tmp_path, f"FROM {BUSYBOX_IMAGE}\nRUN busybox sh -c 'while :; do :; done' {marker}\n")
    assert outcome.reason == "timed out" and not outcome.ok
    assert time.monotonic() - started < 6 + sandbox.TERM_GRACE + 5
    assert processes_with(marker) == []
    assert sandbox.Cgroup.existing(builder.cgroup_name) is None
    assert builder.podman_cli("ps", "--all", "--external", "--format", "{{.ID}}").split() == []


def test_a_file_larger_than_the_limit_fails_the_build(tmp_path: Path) -> None:
    builder = Builder(tmp_path, file_size_mb=podman.FILE_SIZE_FLOOR_MB)
    builder.base()
    outcome = builder.build(tmp_path, f"FROM {BUSYBOX_IMAGE}\n"
                            f"RUN busybox dd if=/dev/zero of=/big bs=1M count={podman.FILE_SIZE_FLOOR_MB + 16}\n")
    assert outcome.returncode != 0, builder.lines
    text = "\n".join(builder.lines)
    assert "File too large" in text or "file size limit exceeded" in text.lower(), text


def test_a_run_step_over_the_memory_limit_ends_as_out_of_memory_with_no_container_left(tmp_path: Path) -> None:
    builder = Builder(tmp_path, memory_mb=100)
    builder.base()
    outcome = builder.build(tmp_path, f"FROM {BUSYBOX_IMAGE}\n"
                            "RUN busybox dd if=/dev/zero of=/dev/null bs=300M count=1\n")
    if any("limits are not enforced" in line for line in builder.lines) and not IN_CI:
        pytest.skip("no writable memory cgroup on this host (the build log says so)")
    assert outcome.reason == "out of memory", builder.lines
    assert builder.podman_cli("ps", "--all", "--external", "--format", "{{.ID}}").split() == []


def test_a_build_stops_when_its_disk_runs_low(tmp_path: Path) -> None:
    total_mb = shutil.disk_usage(tmp_path).total // (1024 * 1024)
    builder = Builder(tmp_path)
    builder.base()
    builder.limits.min_free_mb = total_mb + 1
    outcome = builder.build(tmp_path, f"FROM {BUSYBOX_IMAGE}\nRUN busybox sleep 60\n")
    assert outcome.reason == "out of disk space"
    assert time.monotonic() - builder.started < 1 + sandbox.TERM_GRACE + 5


def test_a_fork_bomb_hits_the_pid_limit_and_everything_is_gone_after(tmp_path: Path) -> None:
    marker = f"wharf-bomb-{uuid.uuid4().hex[:8]}"
    builder = Builder(tmp_path, seconds=8, pids=64)
    builder.base()
    outcome = builder.build(tmp_path, f"FROM {BUSYBOX_IMAGE}\n"
                            f"RUN busybox sh -c 'b() {{ b | b & }}; b; busybox sleep 100' {marker}\n")
    assert not outcome.ok
    if not any("limits are not enforced" in line for line in builder.lines):
        assert outcome.reason == "too many processes", (outcome, builder.lines[-5:])
    assert processes_with(marker) == []
    assert sandbox.Cgroup.existing(builder.cgroup_name) is None
    assert subprocess.run(["true"]).returncode == 0   # the machine still forks


def test_cancelling_mid_run_stops_the_build_and_its_processes(tmp_path: Path) -> None:
    marker = f"wharf-cancel-{uuid.uuid4().hex[:8]}"
    builder = Builder(tmp_path)
    builder.base()
    builder.stop_after = 2
    outcome = builder.build(tmp_path, f"FROM {BUSYBOX_IMAGE}\nRUN busybox sh -c 'busybox sleep 300' {marker}\n")
    assert outcome.reason == "cancelled"
    assert time.monotonic() - builder.started < 2 + sandbox.TERM_GRACE + 6
    assert processes_with(marker) == []
    assert sandbox.Cgroup.existing(builder.cgroup_name) is None


def test_two_platforms_give_a_manifest_list_with_both(tmp_path: Path) -> None:
    builder = Builder(tmp_path)
    outcome = builder.build(tmp_path, "FROM scratch\nCOPY hello.txt /hello.txt\n", files={"hello.txt": "hi\n"},
                            platforms=["linux/amd64", "linux/arm64"], image="localhost/multi:1")
    assert outcome.ok, builder.lines
    listed = json.loads(builder.podman_cli("manifest", "inspect", "localhost/multi:1",
                                           store=builder.podman.storage_root / "platforms"))
    platforms = sorted(f"{m['platform']['os']}/{m['platform']['architecture']}" for m in listed["manifests"])
    assert platforms == ["linux/amd64", "linux/arm64"]
    assert len({m["digest"] for m in listed["manifests"]}) == 2


def test_a_foreign_platform_without_qemu_is_named_in_the_log(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(podman, "BINFMT", tmp_path / "no-binfmt")
    assert podman.can_run(podman.host_platform())
    foreign = "linux/arm64" if podman.host_platform() != "linux/arm64" else "linux/amd64"
    assert not podman.can_run(foreign)
    builder = Builder(tmp_path)
    assert builder.build(tmp_path, "FROM scratch\nCOPY a /a\n", files={"a": "a"}, platforms=[foreign]).ok
    assert any(f"RUN steps for {foreign} need qemu-user-static" in line for line in builder.lines)


def test_a_secret_build_arg_reaches_the_build_but_no_command_line(tmp_path: Path) -> None:
    builder = Builder(tmp_path)
    builder.base()
    outcome = builder.build(tmp_path, f"FROM {BUSYBOX_IMAGE}\nARG TOKEN\nARG PLAIN\n"
                            'RUN test "$TOKEN" = "s3cret-value" && test "$PLAIN" = "open" && echo args-arrived\n',
                            build_args=[("TOKEN", "s3cret-value", True), ("PLAIN", "open", False)])
    assert outcome.ok, builder.lines
    assert "args-arrived" in builder.lines
    assert not any("s3cret-value" in word for argv in builder.podman.commands for word in argv)
    assert any(argv[i:i + 2] == ["--build-arg", "TOKEN"] for argv in builder.podman.commands
               for i in range(len(argv)))


def test_cleanup_orphans_kills_a_leftover_and_keeps_the_active(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A prefix of this test's own, so it never touches a real build's cgroup on this host.
    monkeypatch.setattr(sandbox, "CGROUP_PREFIX", f"wharf-test{os.getpid()}-")
    build_dir = tmp_path / "builds"
    leftovers = []
    for build_id in (41, 42):
        (build_dir / "work" / str(build_id)).mkdir(parents=True)
        run_root = build_dir / "run" / str(build_id)
        run_root.mkdir(parents=True)
        try:
            group: sandbox.Cgroup | None = sandbox.Cgroup.create(f"{sandbox.CGROUP_PREFIX}{build_id}", 256, 64)
        except OSError:
            group = None
        # A stand-in for a podman a dead worker left behind, marked with its run root as builds mark theirs.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                                 env={**os.environ, sandbox.MARKER: str(run_root)},
                                 preexec_fn=group.join if group else None)
        leftovers.append((build_id, group, child))
    podman.cleanup_orphans({42}, build_dir=build_dir)
    (_, orphan_group, orphan), (_, active_group, active) = leftovers
    try:
        assert orphan.wait(timeout=10) in (-signal.SIGTERM, -signal.SIGKILL)
        assert not (build_dir / "run" / "41").exists() and not (build_dir / "work" / "41").exists()
        assert orphan_group is None or orphan_group.gone()
        assert active.poll() is None and (build_dir / "run" / "42").exists()
    finally:
        active.kill()
        active.wait()
        if active_group is not None:
            active_group.remove()


def test_base_images_are_the_from_lines_without_scratch_or_stages() -> None:
    dockerfile = """
        # comment
        ARG BASE=registry.example/ns/base
        ARG TAG
        FROM --platform=$BUILDPLATFORM ${BASE}:${TAG:-1} AS builder
        RUN make \\
            all
        FROM scratch AS empty
        FROM builder
        COPY --from=builder /out /out
        COPY --from=other.example/tools:2 /bin/tool /bin/tool
        FROM ${BASE}:${TAG}
    """
    host = podman.host_platform()
    assert set(base_images(dockerfile, {"TAG": "7"}, ["linux/amd64", "linux/arm64"])) == {
        ("registry.example/ns/base:7", host),
        ("other.example/tools:2", "linux/amd64"), ("other.example/tools:2", "linux/arm64"),
        ("registry.example/ns/base:7", "linux/amd64"), ("registry.example/ns/base:7", "linux/arm64"),
    }


# -- against a registry --

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_tool("docker-registry")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n")
    process = subprocess.Popen([shutil.which("docker-registry") or "docker-registry", "serve", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait()


def _authfile(tmp_path: Path) -> Path:
    path = tmp_path / "auth.json"
    path.write_text('{"auths":{}}')
    return path


def test_push_writes_the_digest_and_the_registry_has_the_image(tmp_path: Path, registry: str) -> None:
    builder = Builder(tmp_path)
    assert builder.build(tmp_path, "FROM scratch\nCOPY a /a\n", files={"a": "one"}).ok
    digestfile = tmp_path / "digest"
    outcome = builder.podman.push("localhost/out:1", f"docker://{registry}/ns/one:1", authfile=_authfile(tmp_path),
                                  tls_verify=False, digestfile=digestfile, manifest_list=False)
    assert outcome.ok, builder.lines
    digest = digestfile.read_text().strip()
    assert digest.startswith("sha256:")
    assert "--tls-verify=false" in builder.podman.commands[-1]
    stored = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry}/ns/one@{digest}"],
                            capture_output=True, text=True)
    assert stored.returncode == 0 and "application/vnd.oci.image.manifest.v1+json" in stored.stdout


def test_a_manifest_list_pushes_with_all_its_images(tmp_path: Path, registry: str) -> None:
    builder = Builder(tmp_path)
    assert builder.build(tmp_path, "FROM scratch\nCOPY a /a\n", files={"a": "two"}, image="localhost/multi:1",
                         platforms=["linux/amd64", "linux/arm64"]).ok
    digestfile = tmp_path / "digest"
    outcome = builder.podman.push("localhost/multi:1", f"docker://{registry}/ns/multi:1",
                                  authfile=_authfile(tmp_path), tls_verify=False, digestfile=digestfile,
                                  manifest_list=True)
    assert outcome.ok, builder.lines
    assert digestfile.read_text().strip().startswith("sha256:")
    index = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                                       f"docker://{registry}/ns/multi:1"], capture_output=True, text=True).stdout)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert len(index["manifests"]) == 2
    builder.podman.remove("localhost/multi:1")


def test_without_network_the_base_image_is_pulled_first_then_built_from(tmp_path: Path, registry: str) -> None:
    seed = Builder(tmp_path / "seed")
    seed.base()
    base = f"{registry}/ns/base:1"
    seed.podman_cli("push", "--tls-verify=false", BUSYBOX_IMAGE, f"docker://{base}")
    builder = Builder(tmp_path)
    builder.podman.tls_verify = False
    builder.podman.authfile = _authfile(tmp_path)
    outcome = builder.build(tmp_path, f"ARG NS=ns\nFROM {registry}/${{NS}}/base:1\nRUN echo built-offline\n")
    assert outcome.ok, builder.lines
    assert "built-offline" in builder.lines
    pulled = [argv for argv in builder.podman.commands if "pull" in argv]
    assert pulled and pulled[0][-1] == base


def test_without_network_a_multi_platform_base_is_pulled_for_each_platform(tmp_path: Path, registry: str) -> None:
    seed = Builder(tmp_path / "seed")
    base = f"{registry}/ns/multibase:1"
    seed.podman_cli("manifest", "create", "localhost/baselist")
    for architecture in ("amd64", "arm64"):
        name = make_busybox_image(seed.podman.storage_root, seed.podman.run_root, f"localhost/base:{architecture}",
                                  arch=architecture)
        seed.podman_cli("manifest", "add", "localhost/baselist", f"containers-storage:{name}")
    seed.podman_cli("manifest", "push", "--all", "--tls-verify=false", "localhost/baselist", f"docker://{base}")
    builder = Builder(tmp_path)
    builder.podman.tls_verify = False
    outcome = builder.build(tmp_path, f"FROM {base}\nCOPY a /a\n", files={"a": "a"}, image="localhost/multi:1",
                            platforms=["linux/amd64", "linux/arm64"])
    assert outcome.ok, builder.lines
    listed = json.loads(builder.podman_cli("manifest", "inspect", "localhost/multi:1",
                                           store=builder.podman.storage_root / "platforms"))
    assert len(listed["manifests"]) == 2


@pytest.mark.parametrize("network", [False, True])
def test_a_run_step_cannot_see_or_signal_the_hosts_processes(tmp_path: Path, network: bool) -> None:
    """Chroot isolation shares the host's process namespace; the wrapper gives the build one of its own."""
    victim = subprocess.Popen(["sleep", "300"])
    try:
        builder = Builder(tmp_path)
        builder.base()
        outcome = builder.build(tmp_path, f"FROM {BUSYBOX_IMAGE}\n"
                                          f"RUN busybox kill -9 {victim.pid} && echo killed || echo spared\n",
                                network=network)
        assert victim.poll() is None, "a RUN step killed a process of the host"
        assert outcome.ok and any(line == "spared" for line in builder.lines), builder.lines
    finally:
        victim.kill()
        victim.wait()
