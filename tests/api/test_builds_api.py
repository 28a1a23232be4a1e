"""Builds and triggers through the API: starting a build from an uploaded Dockerfile, a context archive or a
trigger at a commit; refusals that queue nothing (bad input, a full queue, the broker down); reading builds and
logs page by page; cancel and run again; triggers made, changed and deleted by admins, their secret shown once.

The build queue itself is the lead's (builds.tasks); here `sent` stands in for the broker, recording the builds
handed to it (a real send would put a message on whatever broker the test run points at, where another run's
worker could take it)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from builds import secrets, services
from builds.models import Build, BuildStatus, Delivery, Trigger, TriggerKind
from portal.audit.models import LogEntry
from portal.repositories.models import RepositoryPermission, RepositoryRole
from registry_api import storage
from tests.api.conftest import as_user, error_of
from tests.builds.factories import SECRET, make_build, make_trigger
from tests.factories import make_repository

APP = "/api/v1/repositories/acme/app"
SHA = "0123456789abcdef0123456789abcdef01234567"
DOCKERFILE = b"FROM scratch\nCOPY . /\n"


@pytest.fixture
def sent(monkeypatch):
    """The ids of the builds put on the queue, in order."""
    ids: list[int] = []

    def send(build):
        ids.append(build.pk)
        return True

    monkeypatch.setattr(services, "send", send)
    return ids


def dockerfile(content: bytes = DOCKERFILE) -> SimpleUploadedFile:
    return SimpleUploadedFile("Dockerfile", content, content_type="text/plain")


def archive() -> SimpleUploadedFile:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (("app/docker/Containerfile", DOCKERFILE), ("app/hello.txt", b"hello\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return SimpleUploadedFile("context.tar.gz", out.getvalue(), content_type="application/gzip")


def upload(client, **form):
    return client.post(f"{APP}/builds/", form, format="multipart")


def stored(build: Build) -> bytes:
    with storage.backend().open(build.context_key) as handle:
        return handle.read()


# --- Starting builds ------------------------------------------------------------------------------------------------

def test_a_writer_uploads_a_dockerfile_and_the_build_is_queued_with_its_tags_and_arguments(world, as_, sent):
    response = upload(as_("writer"), dockerfile=dockerfile(), tags="v1, stable", platforms="linux/amd64",
                      build_args=json.dumps({"VERSION": "1.2"}))

    assert response.status_code == 201, response.content
    body = response.json()
    build = Build.objects.get()
    assert response["Location"] == f"http://testserver/api/v1/builds/{build.pk}/"
    assert body["id"] == build.pk and body["status"] == "queued" and body["source_kind"] == "dockerfile"
    assert body["tags"] == ["v1", "stable"] and body["platforms"] == ["linux/amd64"]
    assert body["build_args"] == [{"name": "VERSION", "value": "1.2", "secret": False}]
    assert body["started_by"] == "walt" and body["trigger"] is None and body["repository"] == "acme/app"
    assert body["links"]["logs"] == f"http://testserver/api/v1/builds/{build.pk}/logs/"
    assert sent == [build.pk]
    assert stored(build) == DOCKERFILE
    entry = LogEntry.objects.get(kind="build_queue")
    assert (entry.actor, entry.target, entry.repository_name) == ("walt", f"build {build.pk}", "acme/app")


def test_a_context_archive_is_built_with_the_dockerfile_path_and_directory_given(world, as_, sent):
    response = upload(as_("writer"), context=archive(), dockerfile_path="docker/Containerfile", context_dir="app")

    assert response.status_code == 201, response.content
    build = Build.objects.get()
    assert response.json()["source_kind"] == "archive" and build.context_name == "context.tar.gz"
    assert (build.dockerfile_path, build.context_dir, build.tags) == ("docker/Containerfile", "app", ["latest"])
    assert stored(build)[:2] == b"\x1f\x8b"


@pytest.mark.parametrize(("form", "field", "words"), [
    ({}, "dockerfile", "Give a dockerfile or a context archive"),
    ({"tags": "v1"}, "dockerfile", "Give a dockerfile or a context archive"),
    ({"dockerfile": "both", "context": "yes"}, "context", "not both"),
    ({"context": "text"}, "context", "not a tar, tar.gz or zip archive"),
    ({"dockerfile": "empty"}, "dockerfile", "empty"),
    ({"dockerfile": "ok", "build_args": "{not json"}, "build_args", "JSON"),
    ({"dockerfile": "ok", "build_args": "[1, 2]"}, "build_args", "name"),
    ({"dockerfile": "ok", "platforms": "windows/amd64"}, "platforms", "Unknown platform"),
    ({"dockerfile": "ok", "tags": "-bad"}, "tags", "not a valid tag"),
    ({"dockerfile": "ok", "dockerfile_path": "../../etc/passwd"}, "dockerfile_path", "inside the source"),
])
def test_bad_uploads_are_refused_saying_what_is_wrong_and_queue_nothing(world, as_, sent, form, field, words):
    files = {"ok": dockerfile(), "both": dockerfile(), "empty": dockerfile(b""), "yes": archive(),
             "text": SimpleUploadedFile("context.tar", b"just some text", content_type="application/x-tar")}
    form = {key: files.get(value, value) if key in ("dockerfile", "context") else value
            for key, value in form.items()}

    response = upload(as_("writer"), **form)

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["field"] == field and words in error["message"]
    assert not Build.objects.exists() and sent == []


def test_a_json_body_without_a_trigger_asks_for_a_file_or_a_trigger(world, as_, sent):
    response = as_("writer").post(f"{APP}/builds/", {"tags": "v1"}, format="json")

    assert response.status_code == 400
    assert "Give a dockerfile or a context archive" in error_of(response)["message"]


def test_a_trigger_builds_the_commit_given_with_its_tag_templates(world, as_, sent):
    trigger = make_trigger(world.app, default_branch="main")

    response = as_("writer").post(f"{APP}/builds/", {"trigger": trigger.pk, "commit": SHA.upper()}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["source_kind"], body["trigger"], body["commit_sha"], body["ref"]) == (
        "git", trigger.pk, SHA, "refs/heads/main")
    assert body["tags"] == ["main", SHA[:7], "latest"]
    assert sent == [body["id"]]
    assert Build.objects.get().source_url == trigger.clone_url


def test_a_trigger_build_takes_the_ref_tags_and_platforms_given(world, as_, sent):
    trigger = make_trigger(world.app)

    response = as_("writer").post(f"{APP}/builds/", {"trigger": trigger.pk, "commit": SHA, "ref": "release",
                                                     "tags": ["rc1"], "platforms": ["linux/arm64"]}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["ref"], body["tags"], body["platforms"]) == ("refs/heads/release", ["rc1"], ["linux/arm64"])


@pytest.mark.parametrize(("body", "field"), [
    ({"commit": SHA[:7]}, "commit"),
    ({"commit": "z" * 40}, "commit"),
    ({"commit": SHA, "ref": "bad ref"}, "ref"),
    ({"trigger": "other", "commit": SHA}, "trigger"),
    ({"trigger": "nope", "commit": SHA}, "trigger"),
])
def test_a_trigger_build_with_bad_input_is_refused(world, as_, sent, body, field):
    trigger = make_trigger(world.app)
    other = make_trigger(make_repository("acme/other"))
    body = {"trigger": trigger.pk, **body}
    body["trigger"] = {"other": other.pk, "nope": 10**9}.get(body["trigger"], body["trigger"])

    response = as_("writer").post(f"{APP}/builds/", body, format="json")

    assert response.status_code == 400
    assert error_of(response)["field"] == field
    assert not Build.objects.exists()


def _git(*args: str, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_without_a_commit_the_trigger_builds_its_default_branchs_head(world, as_, sent, tmp_path, settings):
    settings.WHARF_BUILD_ALLOW_FILE_URLS = True
    if shutil.which("git") is None:
        pytest.fail("git is needed")
    repo = tmp_path / "src"
    repo.mkdir()
    _git("init", "-q", "-b", "main", cwd=repo)
    (repo / "Dockerfile").write_bytes(DOCKERFILE)
    _git("add", ".", cwd=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first", cwd=repo)
    head = _git("rev-parse", "HEAD", cwd=repo)
    trigger = make_trigger(world.app, clone_url=f"file://{repo}", default_branch="main")

    response = as_("writer").post(f"{APP}/builds/", {"trigger": trigger.pk}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["commit_sha"] == head


def test_a_git_host_that_cannot_be_read_is_a_502_and_queues_nothing(world, as_, sent, tmp_path, settings):
    settings.WHARF_BUILD_ALLOW_FILE_URLS = True
    trigger = make_trigger(world.app, clone_url=f"file://{tmp_path}/missing.git")

    response = as_("writer").post(f"{APP}/builds/", {"trigger": trigger.pk}, format="json")

    assert response.status_code == 502 and error_of(response)["code"] == "bad_gateway"
    assert not Build.objects.exists()


def test_a_full_queue_answers_429_with_retry_after_and_queues_nothing(world, as_, sent, settings):
    settings.WHARF_BUILD_QUEUE_LIMIT = 1
    make_build(make_repository("acme/other"), status=BuildStatus.QUEUED)   # the cap counts the whole namespace

    response = upload(as_("writer"), dockerfile=dockerfile())

    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    assert error_of(response)["code"] == "too_many_requests"
    assert Build.objects.count() == 1 and sent == []


def test_with_the_broker_down_the_answer_is_503_and_no_build_or_upload_is_left(world, as_, monkeypatch, storage):
    monkeypatch.setattr(services, "send", lambda build: False)

    response = upload(as_("writer"), dockerfile=dockerfile())

    assert response.status_code == 503
    assert error_of(response)["code"] == "unavailable"
    assert not Build.objects.exists()
    assert list(storage.walk("builds/")) == []
    assert not LogEntry.objects.filter(kind="build_queue").exists()


def test_robots_with_write_and_tokens_with_repo_write_may_start_builds(world, as_, sent):
    RepositoryPermission.objects.filter(robot=world.robot).update(role=RepositoryRole.WRITE)
    alice = world.users["owner"]

    by_robot = upload(as_("robot"), dockerfile=dockerfile())
    by_token = upload(as_user(alice, frozenset({"repo:write"})), dockerfile=dockerfile())
    by_weak_token = upload(as_user(alice, frozenset({"repo:read"})), dockerfile=dockerfile())

    assert by_robot.status_code == by_token.status_code == 201
    assert by_robot.json()["started_by"] == "acme+ci"
    assert by_weak_token.status_code == 403
    assert "repo:write" in error_of(by_weak_token)["message"]
    assert len(sent) == 2


def test_readers_may_not_start_builds_and_outsiders_learn_nothing(world, as_, sent):
    reader = upload(as_("reader"), dockerfile=dockerfile())
    outsider = upload(as_("outsider"), dockerfile=dockerfile())
    missing = as_("outsider").post("/api/v1/repositories/acme/nothing/builds/", {}, format="multipart")

    assert reader.status_code == 403 and "write role" in error_of(reader)["message"]
    assert outsider.status_code == missing.status_code == 404
    assert error_of(outsider)["message"].replace("app", "X") == error_of(missing)["message"].replace("nothing", "X")
    assert sent == []


# --- Reading builds and logs ----------------------------------------------------------------------------------------

def test_readers_list_the_builds_newest_first_and_filter_by_status(world, as_):
    done = make_build(world.app)
    failed = make_build(world.app, status=BuildStatus.FAILED, error="RUN make: exit 2")
    make_build(make_repository("acme/other"))

    everything = as_("reader").get(f"{APP}/builds/")
    only_failed = as_("member").get(f"{APP}/builds/?status=failed,cancelled")
    unknown = as_("reader").get(f"{APP}/builds/?status=broken")

    assert everything.status_code == 200
    assert everything.json()["count"] == 2
    assert [b["id"] for b in everything.json()["results"]] == [failed.pk, done.pk]
    assert [b["id"] for b in only_failed.json()["results"]] == [failed.pk]
    assert only_failed.json()["results"][0]["error"] == "RUN make: exit 2"
    assert unknown.status_code == 400 and error_of(unknown)["field"] == "status"


def test_a_build_shows_its_fields_but_never_its_credential_or_secret_values(world, as_):
    trigger = make_trigger(world.app)
    build = make_build(world.app, trigger=trigger, source_kind="git", commit_sha=SHA, ref="refs/heads/main",
                       credential="u:42:0123abcd", started_by_name="walt",
                       build_args=[{"name": "PLAIN", "value": "on", "secret": False},
                                   {"name": "TOKEN", "value": secrets.encrypt("hunter22-secret"), "secret": True}],
                       pushed=[{"tag": "main", "digest": "sha256:" + "a" * 64}], manifest_digest="sha256:" + "a" * 64,
                       commands=[["podman", "build", "-t", "x", "."]],
                       phases=[{"phase": "building", "started_at": "2026-01-01T00:00:00+00:00",
                                "finished_at": None}])

    response = as_("reader").get(f"/api/v1/builds/{build.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["build_args"] == [{"name": "PLAIN", "value": "on", "secret": False},
                                  {"name": "TOKEN", "value": "", "secret": True}]
    assert body["trigger"] == trigger.pk and body["commit_sha"] == SHA and body["started_by"] == "walt"
    assert body["pushed"][0]["tag"] == "main" and body["commands"] == [["podman", "build", "-t", "x", "."]]
    assert body["phases"][0]["phase"] == "building"
    assert set(body["links"]) == {"self", "logs", "repository"}
    assert {"id", "status", "phase", "duration", "cancel_requested", "log_lines", "log_truncated", "created_at",
            "started_at", "finished_at", "delivery_id", "network", "error"} <= set(body)
    text = response.content.decode()
    assert "credential" not in body and "u:42:0123abcd" not in text and "hunter22" not in text
    assert build.build_args[1]["value"] not in text


def test_a_private_repositorys_build_is_as_missing_to_an_outsider_as_an_unknown_id(world, as_):
    build = make_build(world.app, log=["step 1"])

    for path in ("", "logs/"):
        hidden = as_("outsider").get(f"/api/v1/builds/{build.pk}/{path}")
        anonymous = as_("anonymous").get(f"/api/v1/builds/{build.pk}/{path}")
        missing = as_("outsider").get(f"/api/v1/builds/{build.pk + 1000}/{path}")
        assert hidden.status_code == anonymous.status_code == missing.status_code == 404
        assert error_of(hidden)["message"].replace(str(build.pk), "N") == \
            error_of(missing)["message"].replace(str(build.pk + 1000), "N")
        assert "acme" not in hidden.content.decode()


def test_the_log_is_read_page_by_page_from_any_line(world, as_):
    build = make_build(world.app, log=[f"line {i}" for i in range(5)])
    running = make_build(world.app, status=BuildStatus.RUNNING, log=["fetching"])
    reader = as_("reader")

    first = reader.get(f"/api/v1/builds/{build.pk}/logs/?limit=2").json()
    rest = reader.get(f"/api/v1/builds/{build.pk}/logs/?start={first['next']}").json()
    past = reader.get(f"/api/v1/builds/{build.pk}/logs/?start=99").json()
    live = reader.get(f"/api/v1/builds/{running.pk}/logs/").json()

    assert first == {"lines": ["line 0", "line 1"], "start": 0, "next": 2, "finished": True, "truncated": False}
    assert rest["lines"] == ["line 2", "line 3", "line 4"] and rest["next"] == 5
    assert past["lines"] == [] and past["next"] == 99
    assert live["lines"] == ["fetching"] and live["finished"] is False


@pytest.mark.parametrize("query", ["start=-1", "start=x"])
def test_a_bad_log_start_is_refused(world, as_, query):
    build = make_build(world.app, log=["x"])

    response = as_("reader").get(f"/api/v1/builds/{build.pk}/logs/?{query}")

    assert response.status_code == 400 and error_of(response)["field"] == "start"


def test_the_log_page_size_is_capped(world, as_):
    build = make_build(world.app, log=[str(i) for i in range(5100)])

    page = as_("reader").get(f"/api/v1/builds/{build.pk}/logs/?limit=100000").json()
    fallback = as_("reader").get(f"/api/v1/builds/{build.pk}/logs/?limit=lots").json()

    assert len(page["lines"]) == 5000 and page["next"] == 5000
    assert len(fallback["lines"]) == 1000


# --- Cancel and run again -------------------------------------------------------------------------------------------

def test_a_writer_cancels_a_queued_build_and_a_finished_one_is_a_conflict(world, as_):
    queued = make_build(world.app, status=BuildStatus.QUEUED)
    running = make_build(world.app, status=BuildStatus.RUNNING)
    finished = make_build(world.app)

    cancelled = as_("writer").post(f"/api/v1/builds/{queued.pk}/cancel/")
    asked = as_("writer").post(f"/api/v1/builds/{running.pk}/cancel/")
    conflict = as_("writer").post(f"/api/v1/builds/{finished.pk}/cancel/")
    refused = as_("reader").post(f"/api/v1/builds/{running.pk}/cancel/")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # A running build is cancelled or asked to stop, as builds.services.cancel_build decides.
    assert asked.status_code == 200
    assert asked.json()["status"] == "cancelled" or asked.json()["cancel_requested"] is True
    assert conflict.status_code == 409 and error_of(conflict)["code"] == "conflict"
    assert refused.status_code == 403
    assert LogEntry.objects.filter(kind="build_cancel").count() == 2


def test_run_again_queues_a_new_build_of_the_same_upload_and_settings(world, as_, sent):
    first = upload(as_("writer"), dockerfile=dockerfile(), tags="v1").json()

    again = as_("repo_admin").post(f"/api/v1/builds/{first['id']}/rerun/")

    assert again.status_code == 201, again.content
    body = again.json()
    assert body["id"] != first["id"] and body["status"] == "queued" and body["tags"] == ["v1"]
    assert body["started_by"] == "adam"
    assert again["Location"].endswith(f"/api/v1/builds/{body['id']}/")
    assert stored(Build.objects.get(pk=body["id"])) == DOCKERFILE
    assert sent == [first["id"], body["id"]]


def test_run_again_of_a_trigger_build_keeps_its_commit_and_a_deleted_trigger_is_a_conflict(world, as_, sent):
    trigger = make_trigger(world.app)
    build = make_build(world.app, trigger=trigger, source_kind="git", commit_sha=SHA, ref="refs/heads/main")
    orphan = make_build(world.app, source_kind="git", commit_sha=SHA, ref="refs/heads/main")

    again = as_("writer").post(f"/api/v1/builds/{build.pk}/rerun/")
    gone = as_("writer").post(f"/api/v1/builds/{orphan.pk}/rerun/")
    refused = as_("reader").post(f"/api/v1/builds/{build.pk}/rerun/")

    assert again.status_code == 201 and again.json()["commit_sha"] == SHA
    assert gone.status_code == 409
    assert refused.status_code == 403


# --- Triggers -------------------------------------------------------------------------------------------------------

TRIGGERS = f"{APP}/triggers/"
HIDDEN = ("secret_encrypted", "deploy_key_encrypted", "credential")


def test_an_admin_creates_a_git_trigger_and_sees_its_secret_only_once(world, as_):
    admin = as_("repo_admin")

    response = admin.post(TRIGGERS, {"kind": "git", "clone_url": "https://git.example.com/acme/app.git",
                                     "deploy_key": True, "tag_templates": "{branch}, {sha7}",
                                     "build_args": [{"name": "TOKEN", "value": "hunter22-secret", "secret": True}]},
                          format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    trigger = Trigger.objects.get()
    assert body["id"] == trigger.pk and body["kind"] == "git" and body["created_by"] == "adam"
    assert secrets.decrypt(trigger.secret_encrypted) == body["secret"]
    assert body["webhook_url"].endswith(f"/webhooks/git/{trigger.pk}/")
    assert body["deploy_key_public"].startswith("ssh-ed25519 ")
    assert body["tag_templates"] == ["{branch}", "{sha7}"]
    assert body["build_args"] == [{"name": "TOKEN", "value": "", "secret": True}]
    assert "hunter22" not in response.content.decode()
    assert not set(HIDDEN) & set(body)

    listed = admin.get(TRIGGERS)
    shown = admin.get(f"{TRIGGERS}{trigger.pk}/")
    for answer in (listed, shown):
        assert answer.status_code == 200
        text = answer.content.decode()
        assert body["secret"] not in text and "hunter22" not in text and "PRIVATE KEY" not in text
    assert "secret" not in shown.json() and not set(HIDDEN) & set(shown.json())
    assert listed.json()["results"][0]["id"] == trigger.pk
    entry = LogEntry.objects.get(kind="trigger_create")
    assert (entry.actor, entry.target) == ("adam", f"trigger {trigger.pk}")


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "svn", "clone_url": "https://x.example/a.git"}, "kind"),
    ({"kind": "git", "clone_url": "ftp://x.example/a.git"}, "clone_url"),
    ({"kind": "git", "clone_url": "https://me:pw@x.example/a.git"}, "clone_url"),
    ({"kind": "git", "clone_url": "https://x.example/a.git", "ref_filter": "("}, "ref_filter"),
    ({"kind": "git", "clone_url": "https://x.example/a.git", "tag_templates": ["{nope}"]}, "tag_templates"),
    ({"kind": "git", "clone_url": "https://x.example/a.git", "platforms": ["plan9/mips"]}, "platforms"),
])
def test_a_trigger_with_bad_settings_is_refused(world, as_, body, field):
    response = as_("repo_admin").post(TRIGGERS, body, format="json")

    assert response.status_code == 400
    assert error_of(response)["field"] == field
    assert not Trigger.objects.exists()


def test_an_admin_changes_a_trigger_and_a_secret_argument_keeps_its_value_when_left_empty(world, as_):
    trigger = make_trigger(world.app, build_args=[
        {"name": "TOKEN", "value": secrets.encrypt("hunter22-secret"), "secret": True}])

    response = as_("owner").patch(f"{TRIGGERS}{trigger.pk}/", {
        "ref_filter": "^refs/heads/(main|release)$", "network": True, "platforms": "linux/amd64,linux/arm64",
        "build_args": [{"name": "TOKEN", "value": "", "secret": True}, {"name": "MODE", "value": "prod"}]},
        format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["network"] is True and body["platforms"] == ["linux/amd64", "linux/arm64"]
    assert body["build_args"] == [{"name": "TOKEN", "value": "", "secret": True},
                                  {"name": "MODE", "value": "prod", "secret": False}]
    trigger.refresh_from_db()
    assert trigger.ref_filter == "^refs/heads/(main|release)$"
    assert secrets.decrypt(trigger.build_args[0]["value"]) == "hunter22-secret"
    assert LogEntry.objects.filter(kind="trigger_change").exists()


def test_enabling_a_disabled_trigger_clears_its_reason(world, as_):
    trigger = make_trigger(world.app, enabled=False, disabled_reason="Disabled after 5 failed builds",
                           consecutive_failures=5)

    body = as_("repo_admin").patch(f"{TRIGGERS}{trigger.pk}/", {"enabled": True}, format="json").json()

    assert (body["enabled"], body["disabled_reason"], body["consecutive_failures"]) == (True, "", 0)


def test_a_new_secret_replaces_the_old_one_and_is_shown_once(world, as_):
    trigger = make_trigger(world.app)

    response = as_("repo_admin").post(f"{TRIGGERS}{trigger.pk}/secret/")

    assert response.status_code == 200
    secret = response.json()["secret"]
    trigger.refresh_from_db()
    assert secret != SECRET and secrets.decrypt(trigger.secret_encrypted) == secret
    assert secret not in as_("repo_admin").get(f"{TRIGGERS}{trigger.pk}/").content.decode()


def test_a_github_triggers_secret_cannot_be_renewed_here(world, as_):
    trigger = make_trigger(world.app, kind=TriggerKind.GITHUB, github_repository="acme/app")

    response = as_("repo_admin").post(f"{TRIGGERS}{trigger.pk}/secret/")

    assert response.status_code == 400
    assert secrets.decrypt(Trigger.objects.get().secret_encrypted) == SECRET


def test_deleting_a_trigger_keeps_its_builds(world, as_):
    trigger = make_trigger(world.app)
    build = make_build(world.app, trigger=trigger, source_kind="git")

    response = as_("repo_admin").delete(f"{TRIGGERS}{trigger.pk}/")

    assert response.status_code == 200 and response.json() == {"warnings": []}
    assert not Trigger.objects.exists()
    build.refresh_from_db()
    assert build.trigger_id is None
    assert as_("repo_admin").get(f"{TRIGGERS}{trigger.pk}/").status_code == 404
    assert LogEntry.objects.filter(kind="trigger_delete", target=f"trigger {trigger.pk}").exists()


def test_deliveries_are_listed_newest_first_with_their_outcome(world, as_):
    trigger = make_trigger(world.app)
    build = make_build(world.app, trigger=trigger, source_kind="git")
    Delivery.objects.create(trigger=trigger, delivery_id="d1", event="ping", status_code=200, outcome="pong")
    Delivery.objects.create(trigger=trigger, delivery_id="d2", event="push", ref="refs/heads/main",
                            commit_sha=SHA, status_code=201, outcome=f"Build {build.pk} queued.", build=build)

    response = as_("repo_admin").get(f"{TRIGGERS}{trigger.pk}/deliveries/")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(d["delivery_id"], d["status_code"], d["build"]) for d in results] == [
        ("d2", 201, build.pk), ("d1", 200, None)]


def test_a_trigger_of_another_repository_is_not_found_here(world, as_):
    other = make_trigger(make_repository("acme/other"))

    response = as_("owner").get(f"{TRIGGERS}{other.pk}/")

    assert response.status_code == 404


def test_triggers_need_the_admin_role_and_a_token_needs_repo_admin(world, as_):
    trigger = make_trigger(world.app)
    alice = world.users["owner"]

    writer = as_("writer").get(TRIGGERS)
    reader = as_("reader").get(f"{TRIGGERS}{trigger.pk}/")
    outsider = as_("outsider").get(TRIGGERS)
    write_token = as_user(alice, frozenset({"repo:write"})).get(TRIGGERS)
    admin_token = as_user(alice, frozenset({"repo:admin"})).get(TRIGGERS)

    assert writer.status_code == reader.status_code == write_token.status_code == 403
    assert "admin role" in error_of(writer)["message"]
    assert "repo:admin" in error_of(write_token)["message"]
    assert outsider.status_code == 404
    assert admin_token.status_code == 200
