"""Builds end to end: a signed push (or an upload) → a real Celery worker clones with git, builds with podman,
pushes through the live Wharf's /v2/ with a token capped to the one repository, tags by the templates and
records provenance; hostile builds fail with a reason and leave the worker healthy; a worker killed mid-build
leaves no build running forever."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from builds.models import Build, BuildStatus
from builds.services import Source, cancel_build, queue_build
from portal.accounts.credentials import user_principal
from registry_api.models import TagEvent
from tests.builds.conftest import (
    BuildWorker,
    GitRepository,
    context_files,
    scratch_dockerfile,
    start_build_worker,
    wait_for_build,
)
from tests.builds.factories import make_trigger
from tests.builds.test_webhooks import deliver, push_payload
from tests.conftest import LiveServer, require_tool
from tests.factories import make_repository

pytestmark = pytest.mark.django_db(transaction=True)


def skopeo_inspect(live: LiveServer, reference: str, *extra: str) -> dict[str, Any]:
    require_tool("skopeo")
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--creds", "alice:" + _password(), *extra,
                          f"docker://{live.host}/{reference}"], check=True, capture_output=True, text=True,
                         timeout=60)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _password() -> str:
    from tests.factories import PASSWORD

    return PASSWORD


def log_of(build: Build) -> str:
    """The build's log (also kept in test-artifacts/, for a failure in CI)."""
    from builds.logs import full_text
    from tests.conftest import ARTIFACTS

    text = full_text(build)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"build-{build.repository.full_name.replace('/', '-')}-{build.pk}.log").write_text(text)
    return text


def upload(repository: Any, user: Any, files: dict[str, str | bytes], **kwargs: Any) -> Build:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if name == "busybox" else 0o644
            tar.addfile(info, io.BytesIO(data))
    archive.seek(0)
    return queue_build(repository, user_principal(user), Source(kind="archive", upload=archive,
                                                                upload_name="context.tar.gz"), **kwargs)


def test_a_signed_push_builds_pushes_under_the_templated_tags_and_once_only(
        client, build_worker: BuildWorker, live_server_wharf: LiveServer, registry_user: Any,
        git_repository: GitRepository) -> None:
    repository = make_repository("alice/app")
    git_repository.commit(context_files(scratch_dockerfile()), "First")
    sha = git_repository.commit({"hello.txt": "hello again\n"}, "Second: the one to build")
    trigger = make_trigger(repository, clone_url=git_repository.url, created_by=registry_user,
                           tag_templates=["{branch}", "{sha7}", "latest"])
    response = deliver(client, trigger.pk, push_payload(sha=sha, message="Second: the one to build"),
                       delivery="delivery-1")
    assert response.status_code == 201, response.content
    build = wait_for_build(response.json()["build"])
    log = log_of(build)
    assert build.status == BuildStatus.COMPLETE, (build.error, log)
    assert [p["tag"] for p in build.pushed] == ["main", sha[:7], "latest"]
    digest = build.manifest_digest
    assert digest.startswith("sha256:") and {p["digest"] for p in build.pushed} == {digest}
    assert [p["phase"] for p in build.phases] == ["fetching", "building", "pushing", "scan_queued"]
    assert all(p["finished_at"] for p in build.phases)
    for tag in ("main", sha[:7], "latest"):
        assert skopeo_inspect(live_server_wharf, f"alice/app:{tag}")["Digest"] == digest
    labels = skopeo_inspect(live_server_wharf, "alice/app:latest")["Labels"]
    assert labels["org.opencontainers.image.revision"] == sha
    assert labels["io.wharf.build.id"] == str(build.pk)
    event = TagEvent.objects.filter(repository=repository, tag="latest").latest("created_at")
    assert event.provenance == {"build": build.pk, "trigger": trigger.pk, "commit": sha,
                                "source": git_repository.url}
    assert "Pushed " + digest in log and sha[:7] in log
    assert build.commands and all(isinstance(argv, list) for argv in build.commands)
    assert "identitytoken" not in log and "eyJ" not in json.dumps(build.commands) + log   # no token shown

    again = deliver(client, trigger.pk, push_payload(sha=sha), delivery="delivery-1")
    assert again.status_code == 200 and Build.objects.count() == 1


def test_a_context_archive_builds_and_a_second_build_reuses_the_layer_cache(
        build_worker: BuildWorker, live_server_wharf: LiveServer, registry_user: Any) -> None:
    repository = make_repository("alice/uploaded")
    files = context_files(scratch_dockerfile("echo built > /built.txt", files=("hello.txt",)), busybox=True)
    first = wait_for_build(upload(repository, registry_user, files, tags=["v1", "stable"]).pk)
    assert first.status == BuildStatus.COMPLETE, (first.error, log_of(first))
    assert skopeo_inspect(live_server_wharf, "alice/uploaded:v1")["Digest"] == first.manifest_digest
    second = wait_for_build(upload(repository, registry_user, files, tags=["v2"]).pk)
    assert second.status == BuildStatus.COMPLETE, (second.error, log_of(second))
    assert "Using cache" in log_of(second)


@pytest.mark.parametrize("case", ["runs forever", "fills the disk", "reaches for the network", "fork bomb"])
def test_a_hostile_build_fails_with_its_reason_and_the_worker_builds_the_next(
        build_worker: BuildWorker, live_server_wharf: LiveServer, registry_user: Any, settings: Any,
        case: str) -> None:
    settings.WHARF_BUILD_TIME_LIMIT = 25
    repository = make_repository("alice/hostile")
    command, status, says = {
        "runs forever": ("while :; do :; done", BuildStatus.TIMED_OUT, "time limit"),
        "fills the disk": ("/bin/busybox dd if=/dev/zero of=/big bs=1M count=100000", BuildStatus.FAILED,
                           "file size limit of 64 MiB"),
        "reaches for the network": ("/bin/busybox wget -T 3 -q -O- http://10.0.0.1/ || "
                                    "/bin/busybox nc -w 3 10.0.0.1 80 </dev/null", BuildStatus.FAILED,
                                    "Network is unreachable"),
        "fork bomb": ("f() { f | f; }; f", None, ""),   # fails at the pids cap, or runs to the time limit
    }[case]
    files = context_files(scratch_dockerfile(command), busybox=True)
    build = wait_for_build(upload(repository, registry_user, files).pk, seconds=120)
    log = log_of(build)
    if status is None:
        assert build.status in (BuildStatus.FAILED, BuildStatus.TIMED_OUT), (build.status, build.error, log)
    else:
        assert build.status == status, (build.status, build.error, log)
    assert says in log + build.error
    if case == "reaches for the network":
        assert build.error.startswith("the build failed: step RUN") and "exit status 1" in build.error
    assert not Path(build_worker.env["WHARF_BUILD_DIR"], "work", str(build.pk)).exists()
    assert any("build" in argv for argv in build.commands), "a failed build keeps the command lines it ran"
    healthy = wait_for_build(upload(repository, registry_user, context_files(scratch_dockerfile())).pk)
    assert healthy.status == BuildStatus.COMPLETE, (healthy.error, log_of(healthy))


def test_cancelling_a_running_build_stops_podman(build_worker: BuildWorker, registry_user: Any) -> None:
    repository = make_repository("alice/cancelled")
    files = context_files(scratch_dockerfile("echo started; /bin/busybox sleep 600"), busybox=True)
    build = upload(repository, registry_user, files)
    deadline = time.monotonic() + 60
    while "started" not in log_of(build) and time.monotonic() < deadline:
        time.sleep(0.3)
    cancel_build(build, user_principal(registry_user))
    ended = wait_for_build(build.pk, seconds=30)
    assert ended.status == BuildStatus.CANCELLED, (ended.error, log_of(ended))
    assert not _processes_of(ended)


def _processes_of(build: Build) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "busybox sleep 600" in line and "ps -eo" not in line]


def test_a_worker_killed_mid_build_leaves_a_build_that_is_retried_and_cleaned_up(
        live_server_wharf: LiveServer, registry_user: Any, storage: Any, tmp_path: Path, settings: Any) -> None:
    repository = make_repository("alice/killed")
    build_dir = tmp_path / "builds"
    settings.WHARF_BUILD_HEARTBEAT_TIMEOUT, settings.WHARF_BUILD_DIR = 6, build_dir   # as the workers have it
    worker = start_build_worker(live_server_wharf, build_dir, storage.root)
    try:
        files = context_files(scratch_dockerfile("echo started; /bin/busybox sleep 600"), busybox=True)
        build = upload(repository, registry_user, files)
        deadline = time.monotonic() + 90
        while "started" not in log_of(build) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert Build.objects.get(pk=build.pk).status == BuildStatus.RUNNING
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=30)
    finally:
        worker.stop(kill=True)
    # The reaper (beat, every 30 s) finds the silent build once the heartbeat timeout (6 s here) has passed.
    time.sleep(7)
    from builds.tasks import reap_builds

    replacement = start_build_worker(live_server_wharf, build_dir, storage.root)
    try:
        result = reap_builds()
        assert result["requeued"] == 1
        assert not _processes_of(build), "the dead worker's podman is still running"
        retried = wait_for_build(build.pk, seconds=60, until=(BuildStatus.RUNNING,))
        assert retried.attempts == 2
        cancel_build(retried, user_principal(registry_user))
        ended = wait_for_build(build.pk, seconds=30)
        assert ended.status == BuildStatus.CANCELLED
        assert "Attempt 2" in log_of(ended)
    finally:
        replacement.stop()
    assert not _processes_of(build)


def test_a_copy_only_build_for_two_platforms_pushes_an_index_with_both(
        build_worker: BuildWorker, live_server_wharf: LiveServer, registry_user: Any) -> None:
    repository = make_repository("alice/multi")
    build = wait_for_build(upload(repository, registry_user, context_files(scratch_dockerfile()),
                                  platforms="linux/amd64,linux/arm64").pk)
    assert build.status == BuildStatus.COMPLETE, (build.error, log_of(build))
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", "alice:" + _password(),
                          f"docker://{live_server_wharf.host}/alice/multi:latest"], check=True,
                         capture_output=True, text=True).stdout
    index = json.loads(raw)
    platforms = {(m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]}
    assert platforms == {("linux", "amd64"), ("linux", "arm64")}


def test_a_dockerfile_that_mounts_the_workers_root_through_a_link_is_refused_before_podman(
        build_worker: BuildWorker, registry_user: Any) -> None:
    from tests.builds.test_dockerfile import ESCAPE

    repository = make_repository("alice/escape")
    files = context_files(ESCAPE, busybox=True)
    build = wait_for_build(upload(repository, registry_user, files).pk)
    assert build.status == BuildStatus.FAILED
    assert "RUN --mount is refused" in build.error and "CVE-2024-1753" in log_of(build)
    assert not any("podman" in " ".join(argv) and "build" in argv for argv in build.commands)
