"""Builds, against Wharf as `make run` starts it (scripts/bench.sh runs this beside regbench; SKIP_BUILDBENCH=1
skips it): how fast a signed webhook is answered, how soon an idle worker starts its build, a trivial FROM scratch
build pushed and tagged end to end (cold, then again with the layer cache), and a burst of deliveries (each sent
twice) that must give exactly one build per commit.

Talks HTTP to the running server for everything a client does, and reads the same database (DATA_DIR, SQLite)
for the set-up and the build rows. Needs git and podman.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from builds import secrets  # noqa: E402
from builds.models import FINAL, Build, BuildStatus, Trigger  # noqa: E402
from portal.accounts.models import User  # noqa: E402
from portal.repositories.models import Repository  # noqa: E402
from tests.factories import make_repository, make_user  # noqa: E402

SECRET = secrets.new_webhook_secret()


def git(path: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def commit(path: Path, files: dict[str, str], message: str) -> str:
    for name, content in files.items():
        (path / name).write_text(content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD")


def deliver(url: str, trigger: Trigger, sha: str, delivery: str | None = None) -> tuple[int, float]:
    body = json.dumps({"ref": "refs/heads/main", "after": sha, "head_commit": {
        "id": sha, "message": "bench", "author": {"name": "Bench"}}}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"{url}/webhooks/git/{trigger.pk}/", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-Hub-Signature-256": signature,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4())})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.perf_counter() - started


def wait(build_id: int, statuses: tuple[str, ...], seconds: float = 300) -> Build:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        build = Build.objects.get(pk=build_id)
        if build.status in statuses:
            return build
        time.sleep(0.02)
    raise SystemExit(f"build {build_id} did not reach {statuses} in {seconds}s")


def latest_build(trigger: Trigger, after: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = Build.objects.filter(trigger=trigger, pk__gt=after).order_by("pk").values_list("pk", flat=True).first()
        if found:
            return found
        time.sleep(0.01)
    raise SystemExit("the webhook queued no build")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def cancel_queued(trigger: Trigger) -> None:
    """Cancel the bench's placeholder builds; one a worker took first fails at its clone (its commit does not
    exist), which must not count toward disabling the trigger."""
    Build.objects.filter(trigger=trigger, status=BuildStatus.QUEUED).update(status=BuildStatus.CANCELLED)
    Trigger.objects.filter(pk=trigger.pk).update(enabled=True, consecutive_failures=0, disabled_reason="")


def idle(trigger: Trigger) -> None:
    """Wait until the worker holds none of the bench's builds: the next timing starts on an idle worker."""
    deadline = time.monotonic() + 120
    while Build.objects.filter(trigger=trigger, status__in=["running", "pushing"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the worker stayed busy for 2 minutes")
        time.sleep(0.1)
    cancel_queued(trigger)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--json")
    parser.add_argument("--deliveries", type=int, default=100)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    user = User.objects.filter(username="buildbench").first() or make_user("buildbench")
    repository = Repository.objects.filter(full_name="buildbench/app").first() or make_repository("buildbench/app")
    with tempfile.TemporaryDirectory(prefix="wharf-buildbench-") as work:
        source = Path(work) / "app"
        source.mkdir()
        git(source, "init", "-q", "-b", "main")
        first = commit(source, {"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\nCOPY data.txt /data.txt\n",
                                "hello.txt": "hello\n", "data.txt": "x" * 1_000_000, "README": "1\n"}, "first")
        trigger = Trigger.objects.create(repository=repository, kind="git", clone_url=f"file://{source}",
                                         secret_encrypted=secrets.encrypt(SECRET), created_by=user,
                                         tag_templates=["{sha7}", "latest"])
        Build.objects.filter(repository=repository).delete()

        # 1. and 2. A trivial build end to end on an idle worker with an empty queue, cold; then a commit that
        # changes no COPYed file (the layer cache).
        for label, sha in (("cold", first), ("cached", commit(source, {"README": "2\n"}, "second"))):
            before = Build.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            started = time.perf_counter()
            status, _ = deliver(args.url, trigger, sha)
            assert status == 201, status
            build_id = latest_build(trigger, before)
            wait(build_id, (BuildStatus.RUNNING, *FINAL))
            running = time.perf_counter() - started
            build = wait(build_id, tuple(FINAL))
            total = time.perf_counter() - started
            if build.status != BuildStatus.COMPLETE:
                raise SystemExit(f"the {label} build ended {build.status}: {build.error}")
            results[f"build_{label}"] = {"to_running_s": running, "end_to_end_s": total}
            print(f"{label} build: running after {running:.2f} s, pushed and tagged after {total:.2f} s", flush=True)
        saved = results["build_cold"]["end_to_end_s"] - results["build_cached"]["end_to_end_s"]
        print(f"the layer cache saved {saved:.2f} s "
              f"({100 * saved / results['build_cold']['end_to_end_s']:.0f}%)", flush=True)

        # 3. Answering: each delivery records a build and queues it; the bench cancels them before a worker
        # takes them (a worker skips a cancelled build), so only the answer is timed.
        from django.conf import settings

        times = []
        for _ in range(args.deliveries):
            status, seconds = deliver(args.url, trigger, uuid.uuid4().hex + uuid.uuid4().hex[:8])
            assert status in (201, 429), status
            times.append(seconds)
            cancel_queued(trigger)
        results["webhook_answer_ms"] = {"p50": percentile(times, 0.5) * 1000, "p99": percentile(times, 0.99) * 1000,
                                        "n": len(times)}
        print(f"webhook answered: p50 {results['webhook_answer_ms']['p50']:.1f} ms, "
              f"p99 {results['webhook_answer_ms']['p99']:.1f} ms ({len(times)} deliveries)", flush=True)

        # 4. A burst: 20 deliveries of 20 commits, each sent twice, from 8 threads at once.
        idle(trigger)
        limit = settings.WHARF_BUILD_QUEUE_LIMIT
        shas = [uuid.uuid4().hex + uuid.uuid4().hex[:8] for _ in range(min(20, limit))]
        before = Build.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        jobs = [(sha, f"burst-{i}") for i, sha in enumerate(shas)] * 2
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda job: deliver(args.url, trigger, job[0], job[1])[0], jobs))
        built = list(Build.objects.filter(trigger=trigger, pk__gt=before).values_list("commit_sha", flat=True))
        cancel_queued(trigger)
        results["burst"] = {"deliveries": len(jobs), "builds": len(built), "distinct": len(set(built)),
                            "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))}}
        ok = len(built) == len(shas) and set(built) == set(shas)
        print(f"burst: {len(jobs)} deliveries ({len(shas)} commits, each twice) → {len(built)} builds, "
              f"{'none lost or duplicated' if ok else 'WRONG'}; answers {results['burst']['statuses']}", flush=True)
        trigger.delete()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
