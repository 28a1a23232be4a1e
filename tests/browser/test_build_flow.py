"""Issue 12's whole flow in Chromium: connect the (stand-in) GitHub account for builds, pick a repository in the
trigger page's picker, push to it (a signed delivery to the hook GitHub was given), watch the build page show
the log while the build runs, and find the tag on the tags page. A real live server, a real worker, real podman
and git; only GitHub is a stand-in."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from builds.models import Build, BuildStatus
from tests.browser.conftest import sign_in
from tests.builds.conftest import GitRepository, context_files, scratch_dockerfile, start_build_worker
from tests.builds.github_standin import CLIENT_ID, CLIENT_SECRET, GithubStandIn
from tests.conftest import require_tool, run_live_server
from tests.factories import make_repository, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_github_push_builds_and_the_page_shows_the_log_live_and_the_tag(
        browser: Any, github_api: GithubStandIn, git_repository: GitRepository, storage: Any,
        tmp_path: Path) -> None:
    require_tool("podman")
    make_user("alice")
    make_repository("alice/app")
    git_repository.commit(context_files(scratch_dockerfile(), busybox=True), "First")
    github_api.login = "alice-gh"
    github_api.add_repo("alice-gh/app", clone_url=git_repository.url)

    # A server of its own, told where GitHub is (the session's live server knows no stand-in).
    live_env = {"WHARF_GITHUB_URL": github_api.url, "WHARF_GITHUB_API_URL": github_api.url,
                "GITHUB_CLIENT_ID": CLIENT_ID, "GITHUB_CLIENT_SECRET": CLIENT_SECRET,
                "WHARF_BUILD_ALLOW_FILE_URLS": "1",
                # The build worker takes its work from the test's broker (the embedded one in the SQLite pass).
                "WHARF_BROKER_DIR": str(settings.DATA_DIR / "broker")}
    server = run_live_server(live_env, log_name="live-server-builds.log")
    live = next(server)
    worker = start_build_worker(live, tmp_path / "builds", storage.root)
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in(page, "alice")
        page.goto("/repository/alice/app/triggers/new/?kind=github")
        page.get_by_test_id("connect-github").click()   # GitHub (the stand-in) consents and sends us back
        page.wait_for_url(re.compile(r"/triggers/new/"))
        assert {"repo", "admin:repo_hook"} <= github_api.authorized_scopes[-1]
        page.get_by_role("link", name="alice-gh/app").click()
        page.get_by_test_id("trigger-form").get_by_role("button", name="Create trigger").click()
        page.wait_for_url(re.compile(r"/triggers/\d+/$"))
        hook = github_api.hooks("alice-gh/app")[0]
        assert hook["config"]["url"].startswith(live.url + "/webhooks/git/")

        # The push: a commit whose RUN step prints a line a second, so the page sees it while it runs.
        dockerfile = scratch_dockerfile("for i in 1 2 3 4; do echo tick $i; /bin/busybox sleep 1; done")
        sha = git_repository.commit({"Dockerfile": dockerfile}, "Tick while building")
        body = json.dumps({"ref": "refs/heads/main", "after": sha, "head_commit": {
            "id": sha, "message": "Tick while building", "author": {"name": "Ada"}}}).encode()
        signature = "sha256=" + hmac.new(hook["config"]["secret"].encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(hook["config"]["url"], data=body, method="POST", headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": signature})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 201
            build_id = json.loads(answer.read())["build"]

        page.goto(f"/repository/alice/app/builds/{build_id}/")
        log = page.get_by_test_id("build-log")
        expect(log).to_contain_text("tick 2", timeout=90_000)
        # Seen while it ran: the build had not ended when its second tick showed.
        assert Build.objects.get(pk=build_id).status in (BuildStatus.RUNNING, BuildStatus.PUSHING)
        page.evaluate("window.notReloaded = true")
        expect(page.get_by_test_id("build-status")).to_have_text("Complete", timeout=90_000)
        assert page.evaluate("window.notReloaded") is True
        expect(log).to_contain_text("Pushed sha256:")

        page.goto("/repository/alice/app/tags/")
        expect(page.get_by_text(sha[:7]).first).to_be_visible()
        expect(page.get_by_text("latest").first).to_be_visible()
    finally:
        context.close()
        worker.stop()
        next(server, None)
        shutil.rmtree(tmp_path / "builds", ignore_errors=True)

