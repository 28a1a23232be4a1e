"""The Builds tab, a build's page with its log (JSON and download), the trigger pages and the create-repository
page's build starts.

alice owns alice/app (admin), bob may push to it (write), charlie may only pull (read); an outsider (dave)
may not see it. Builds are sent to the real broker; no worker runs here, so a started build stays queued.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from builds import github, secrets
from builds.models import Build, BuildStatus, Delivery, SourceKind, Trigger
from portal.accounts.models import User
from portal.repositories.models import Repository
from registry_api import storage
from tests.builds.factories import make_build, make_trigger
from tests.factories import grant, make_repository, make_user
from tests.web.conftest import messages_of, text

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]
BUILDS = "/repository/alice/app/builds/"
TRIGGERS = "/repository/alice/app/triggers/"
SHA = "0123456789abcdef0123456789abcdef01234567"
DOCKERFILE = b"FROM scratch\nCOPY hello /hello\n"


@pytest.fixture
def app(alice: User, bob: User, charlie: User) -> Repository:
    repository = make_repository("alice/app")
    grant(repository, "write", user=bob)
    grant(repository, "read", user=charlie)
    return repository


@pytest.fixture
def dave(db: Any) -> User:
    return make_user("dave")


def dockerfile(name: str = "Dockerfile", data: bytes = DOCKERFILE) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def tar_gz() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(DOCKERFILE)
        tar.addfile(info, io.BytesIO(DOCKERFILE))
    return gzip.compress(raw.getvalue())


# --- Who may see --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["builds/", "builds/{id}/", "builds/{id}/log/", "builds/{id}/log.txt",
                                    "triggers/", "triggers/new/", "triggers/{trigger}/"])
def test_an_outsider_gets_not_found_for_a_private_repositorys_builds(login_as: Login, app: Repository, dave: User,
                                                                      suffix: str) -> None:
    build, trigger = make_build(app, log=["secret build output"]), make_trigger(app)

    response = login_as(dave).get(f"/repository/alice/app/{suffix.format(id=build.pk, trigger=trigger.pk)}")

    assert response.status_code == 404 and b"secret build output" not in response.content


def test_a_reader_sees_the_builds_without_the_start_form(login_as: Login, app: Repository, charlie: User) -> None:
    trigger = make_trigger(app)
    make_build(app, status=BuildStatus.COMPLETE, trigger=trigger, commit_sha=SHA, ref="refs/heads/main",
               commit_message="Fix the parser\n\nA longer body", delivery_id="d-1",
               pushed=[{"tag": "main", "digest": "sha256:" + "a" * 64}])
    make_build(app, status=BuildStatus.QUEUED, started_by_name="bob", context_name="Dockerfile")

    page = text(login_as(charlie).get(BUILDS))

    assert page.count('class="build-row"') == 2
    assert "0123456" in page and "Fix the parser" in page and "A longer body" not in page
    assert "push to https://git.example.com/acme/app.git" in page and "upload by bob" in page
    assert 'data-testid="upload-form"' not in page and 'data-testid="triggers-link"' not in page


def test_a_reader_sees_a_build_page_with_its_log_but_no_buttons(login_as: Login, app: Repository,
                                                                charlie: User) -> None:
    build = make_build(app, status=BuildStatus.RUNNING, log=["STEP 1/2: FROM scratch", "STEP 2/2: COPY"])

    page = text(login_as(charlie).get(f"{BUILDS}{build.pk}/"))

    assert "STEP 1/2: FROM scratch\nSTEP 2/2: COPY\n" in page
    assert 'data-next="2"' in page and 'data-finished="false"' in page and "js/build-log.js" in page
    assert 'data-testid="cancel-build"' not in page and 'data-testid="run-again"' not in page


def test_a_reader_may_not_start_cancel_or_run_again(login_as: Login, app: Repository, charlie: User) -> None:
    build = make_build(app, status=BuildStatus.QUEUED)
    client = login_as(charlie)

    assert client.post(BUILDS, {"upload": dockerfile()}).status_code == 403
    assert client.post(f"{BUILDS}{build.pk}/", {"action": "cancel"}).status_code == 403
    assert client.post(f"{BUILDS}{build.pk}/", {"action": "run_again"}).status_code == 403
    assert Build.objects.get().status == BuildStatus.QUEUED


def test_a_build_of_another_repository_is_not_found_here(login_as: Login, app: Repository, alice: User) -> None:
    other = make_build(make_repository("alice/other"))

    assert login_as(alice).get(f"{BUILDS}{other.pk}/").status_code == 404


# --- Starting a build by upload -----------------------------------------------------------------------------------

def test_a_writer_starts_a_build_from_an_uploaded_dockerfile(login_as: Login, app: Repository, bob: User) -> None:
    response = login_as(bob).post(BUILDS, {
        "upload": dockerfile(), "tags": "v1, latest", "build_args": "VERSION=1.2\nsecret:TOKEN=hunter2-very-secret",
        "platforms": ["linux/amd64", "linux/arm64"]})

    build = Build.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{BUILDS}{build.pk}/"
    assert (build.status, build.source_kind, build.started_by_name) == (BuildStatus.QUEUED, SourceKind.DOCKERFILE,
                                                                        "bob")
    assert build.tags == ["v1", "latest"] and build.platforms == ["linux/amd64", "linux/arm64"]
    assert [(a["name"], a["secret"]) for a in build.build_args] == [("VERSION", False), ("TOKEN", True)]
    assert storage.backend().open(build.context_key).read() == DOCKERFILE
    page = text(login_as(bob).get(response["Location"]))
    assert "VERSION=1.2" in page and "hunter2-very-secret" not in page and "TOKEN=" in page


def test_an_archive_is_told_by_its_first_bytes(login_as: Login, app: Repository, bob: User) -> None:
    login_as(bob).post(BUILDS, {"upload": dockerfile("context.bin", tar_gz()), "dockerfile_path": "Dockerfile"})

    build = Build.objects.get()
    assert build.source_kind == SourceKind.ARCHIVE and build.context_name == "context.bin"


def test_a_bad_tag_is_shown_on_the_form_and_nothing_is_queued(login_as: Login, app: Repository, bob: User) -> None:
    response = login_as(bob).post(BUILDS, {"upload": dockerfile(), "tags": "no spaces allowed",
                                           "build_args": "secret:TOKEN=hunter2-very-secret"})

    assert response.status_code == 400 and not Build.objects.exists()
    assert "is not a valid tag" in text(response) and "hunter2-very-secret" not in text(response)
    assert 'data-testid="upload-form"' in text(response)


def test_a_build_argument_line_without_a_value_is_refused(login_as: Login, app: Repository, bob: User) -> None:
    response = login_as(bob).post(BUILDS, {"upload": dockerfile(), "build_args": "JUSTANAME"})

    assert response.status_code == 400 and "Line 1 is not NAME=value." in text(response)


def test_a_full_queue_answers_too_many_requests(login_as: Login, app: Repository, bob: User, settings: Any) -> None:
    settings.WHARF_BUILD_QUEUE_LIMIT = 1
    make_build(app, status=BuildStatus.QUEUED)

    response = login_as(bob).post(BUILDS, {"upload": dockerfile()})

    assert response.status_code == 429 and "builds queued" in text(response)
    assert Build.objects.count() == 1


# --- Cancel and run again -----------------------------------------------------------------------------------------

def test_a_writer_cancels_a_queued_build(login_as: Login, app: Repository, bob: User) -> None:
    build = make_build(app, status=BuildStatus.QUEUED)

    response = login_as(bob).post(f"{BUILDS}{build.pk}/", {"action": "cancel"}, follow=True)

    build.refresh_from_db()
    assert build.status == BuildStatus.CANCELLED and "The build is cancelled." in messages_of(response)


def test_cancelling_a_running_build_asks_its_worker_to_stop(login_as: Login, app: Repository, bob: User) -> None:
    build = make_build(app, status=BuildStatus.RUNNING)

    response = login_as(bob).post(f"{BUILDS}{build.pk}/", {"action": "cancel"}, follow=True)

    # (How the worker learns it is the services' business: the row ends cancelled or says cancel_requested.)
    build.refresh_from_db()
    assert build.status == BuildStatus.CANCELLED or build.cancel_requested
    assert messages_of(response)[0] in ("The build is cancelled.",
                                        "The build was asked to stop; it ends within a few seconds.")


def test_cancelling_a_finished_build_says_so(login_as: Login, app: Repository, bob: User) -> None:
    build = make_build(app, status=BuildStatus.COMPLETE)

    response = login_as(bob).post(f"{BUILDS}{build.pk}/", {"action": "cancel"}, follow=True)

    assert "nothing to cancel" in " ".join(messages_of(response))
    assert Build.objects.get().status == BuildStatus.COMPLETE


def test_run_again_queues_the_same_upload_and_settings(login_as: Login, app: Repository, bob: User) -> None:
    login_as(bob).post(BUILDS, {"upload": dockerfile(), "tags": "v2"})
    first = Build.objects.get()
    Build.objects.filter(pk=first.pk).update(status=BuildStatus.FAILED)

    response = login_as(bob).post(f"{BUILDS}{first.pk}/", {"action": "run_again"})

    again = Build.objects.exclude(pk=first.pk).get()
    assert response["Location"] == f"{BUILDS}{again.pk}/"
    assert again.tags == ["v2"] and again.status == BuildStatus.QUEUED
    assert storage.backend().open(again.context_key).read() == DOCKERFILE


# --- The log ------------------------------------------------------------------------------------------------------

def test_the_log_endpoint_pages_from_a_line_on(login_as: Login, app: Repository, charlie: User) -> None:
    build = make_build(app, status=BuildStatus.RUNNING, phase="building", log=[f"line {i}" for i in range(5)])
    client = login_as(charlie)

    first = client.get(f"{BUILDS}{build.pk}/log/").json()
    later = client.get(f"{BUILDS}{build.pk}/log/?start=3").json()
    past = client.get(f"{BUILDS}{build.pk}/log/?start=5").json()

    assert first["lines"] == [f"line {i}" for i in range(5)] and first["next"] == 5
    assert (first["finished"], first["status"], first["phase"]) == (False, "running", "building")
    assert later["lines"] == ["line 3", "line 4"] and later["next"] == 5
    assert past["lines"] == [] and past["next"] == 5


def test_the_log_endpoint_says_when_the_build_has_finished(login_as: Login, app: Repository, charlie: User) -> None:
    build = make_build(app, status=BuildStatus.FAILED, error="exit status 1", log=["boom"])

    answer = login_as(charlie).get(f"{BUILDS}{build.pk}/log/?start=1").json()

    assert answer == {"lines": [], "start": 1, "next": 1, "finished": True, "truncated": False, "status": "failed",
                      "status_label": "Failed", "phase": "waiting", "phase_label": "waiting for a worker",
                      "error": "exit status 1"}


def test_the_log_downloads_as_text(login_as: Login, app: Repository, charlie: User) -> None:
    build = make_build(app, log=["one", "two"])

    response = login_as(charlie).get(f"{BUILDS}{build.pk}/log.txt")

    assert response.status_code == 200 and response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="alice-app-build-{build.pk}.log"'
    assert response.content == b"one\ntwo\n"


def test_a_build_page_shows_phases_commands_and_pushed_manifests(login_as: Login, app: Repository,
                                                                 charlie: User) -> None:
    digest = "sha256:" + "b" * 64
    build = make_build(app, phases=[
        {"phase": "fetching", "started_at": "2024-05-01T10:00:00+00:00", "finished_at": "2024-05-01T10:00:02+00:00"},
        {"phase": "building", "started_at": "2024-05-01T10:00:02+00:00", "finished_at": "2024-05-01T10:01:25+00:00"}],
        commands=[["podman", "build", "--build-arg", "A=b c", "."]], pushed=[{"tag": "latest", "digest": digest}])

    page = text(login_as(charlie).get(f"{BUILDS}{build.pk}/"))

    assert "fetching source" in page and "2.0 s" in page and "1 min 23 s" in page
    assert "podman build --build-arg &#x27;A=b c&#x27; ." in page
    assert f'href="/repository/alice/app/manifest/{digest}/"' in page


# --- The list: filter, pages, statements --------------------------------------------------------------------------

def test_the_list_filters_by_status(login_as: Login, app: Repository, charlie: User) -> None:
    make_build(app, status=BuildStatus.FAILED)
    make_build(app, status=BuildStatus.COMPLETE)

    response = login_as(charlie).get(f"{BUILDS}?status=failed")

    assert [b.status for b in response.context["builds"]] == ["failed"]


def test_the_list_runs_a_bounded_number_of_statements(login_as: Login, app: Repository, charlie: User,
                                                      django_assert_max_num_queries: Any) -> None:
    trigger = make_trigger(app)
    Build.objects.bulk_create([Build(repository=app, trigger=trigger if i % 2 else None, source_kind="git",
                                     commit_sha=f"{i:040x}", tags=["latest"]) for i in range(60)])
    client = login_as(charlie)

    # session and user (2), repository and role (2), count and page (2), the header's unread-inbox count (1)
    with django_assert_max_num_queries(7):
        response = client.get(f"{BUILDS}?page=2")

    assert len(response.context["builds"]) == 25 and response.context["pager"].num_pages == 3


# --- Triggers -----------------------------------------------------------------------------------------------------

def create_git_trigger(client: Client, **more: Any) -> Any:
    return client.post(f"{TRIGGERS}new/", {
        "kind": "git", "clone_url": "https://git.example.com/alice/app.git", "dockerfile_path": "Dockerfile",
        "default_branch": "main", "tag_templates": "{branch}, {sha7}", "enabled": "on",
        "build_args": "VERSION=1\nsecret:NPM_TOKEN=npm-secret-value-123", "platforms": ["linux/amd64"], **more})


def test_an_admin_creates_a_git_trigger_and_sees_its_secret_once(login_as: Login, app: Repository,
                                                                  alice: User) -> None:
    client = login_as(alice)
    response = create_git_trigger(client, deploy_key="on")

    trigger = Trigger.objects.get()
    page = text(response)
    secret = re.search(r'<code id="secret" data-testid="secret">([^<]+)</code>', page).group(1)  # type: ignore[union-attr]
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert secrets.decrypt(trigger.secret_encrypted) == secret
    assert f"/webhooks/git/{trigger.pk}/" in page and trigger.deploy_key_public in page
    assert (trigger.tag_templates, trigger.platforms, trigger.enabled) == (["{branch}", "{sha7}"], ["linux/amd64"],
                                                                             True)
    shown = text(client.get(f"{TRIGGERS}{trigger.pk}/"))
    assert secret not in shown and "npm-secret-value-123" not in shown and "secret:NPM_TOKEN=</textarea>" in shown
    assert "npm-secret-value-123" not in page


def test_a_refused_trigger_form_keeps_its_fields_but_not_the_secret_values(login_as: Login, app: Repository,
                                                                          alice: User) -> None:
    response = create_git_trigger(login_as(alice), clone_url="http://user:pw@example.com/x.git")

    assert response.status_code == 400 and not Trigger.objects.exists()
    page = text(response)
    assert "clone URL must start with https://" in page and "npm-secret-value-123" not in page
    assert "VERSION=1" in page


def test_saving_the_settings_keeps_a_secret_left_empty(login_as: Login, app: Repository, alice: User) -> None:
    client = login_as(alice)
    create_git_trigger(client)
    trigger = Trigger.objects.get()
    before = trigger.build_args[1]["value"]

    response = client.post(f"{TRIGGERS}{trigger.pk}/", {
        "action": "update", "dockerfile_path": "build/Dockerfile", "default_branch": "trunk",
        "tag_templates": "{sha7}", "build_args": "VERSION=2\nsecret:NPM_TOKEN=", "ref_filter": "^refs/heads/"})

    trigger.refresh_from_db()
    assert response.status_code == 302
    assert (trigger.dockerfile_path, trigger.default_branch, trigger.enabled, trigger.platforms) == (
        "build/Dockerfile", "trunk", False, [])
    assert trigger.build_args[0]["value"] == "2" and trigger.build_args[1]["value"] == before


def test_a_bad_filter_is_shown_next_to_its_field(login_as: Login, app: Repository, alice: User) -> None:
    trigger = make_trigger(app)

    response = login_as(alice).post(f"{TRIGGERS}{trigger.pk}/", {
        "action": "update", "dockerfile_path": "Dockerfile", "default_branch": "main", "tag_templates": "{sha7}",
        "ref_filter": "(unclosed"})

    assert response.status_code == 400 and "not a regular expression" in text(response)


def test_a_new_secret_is_asked_for_first_then_shown_once(login_as: Login, app: Repository, alice: User) -> None:
    trigger = make_trigger(app)
    client = login_as(alice)

    asked = client.post(f"{TRIGGERS}{trigger.pk}/", {"action": "new_secret"})
    assert 'data-testid="confirm-page"' in text(asked) and Trigger.objects.get().secret_encrypted == \
        trigger.secret_encrypted

    shown = client.post(f"{TRIGGERS}{trigger.pk}/", {"action": "new_secret", "confirm": "1"})

    secret = secrets.decrypt(Trigger.objects.get().secret_encrypted)
    assert secret in text(shown) and shown["Cache-Control"] == "no-store"
    assert secret not in text(client.get(f"{TRIGGERS}{trigger.pk}/"))


def test_an_admin_deletes_a_trigger_after_confirming(login_as: Login, app: Repository, alice: User) -> None:
    trigger = make_trigger(app)
    build = make_build(app, trigger=trigger)
    client = login_as(alice)

    assert 'data-testid="confirm-page"' in text(client.post(f"{TRIGGERS}{trigger.pk}/", {"action": "delete"}))
    response = client.post(f"{TRIGGERS}{trigger.pk}/", {"action": "delete", "confirm": "1"})

    assert response["Location"] == TRIGGERS and not Trigger.objects.exists()
    assert Build.objects.get(pk=build.pk).trigger_id is None


@pytest.mark.parametrize("url", ["", "new/", "new/?kind=github", "{trigger}/"])
def test_a_writer_who_is_not_an_admin_may_not_see_the_triggers(login_as: Login, app: Repository, bob: User,
                                                                 url: str) -> None:
    trigger = make_trigger(app)
    client = login_as(bob)

    assert client.get(TRIGGERS + url.format(trigger=trigger.pk)).status_code == 403
    assert client.post(f"{TRIGGERS}{trigger.pk}/", {"action": "delete", "confirm": "1"}).status_code == 403
    assert Trigger.objects.exists()


def test_the_trigger_pages_list_deliveries_with_their_builds(login_as: Login, app: Repository, alice: User) -> None:
    trigger = make_trigger(app)
    build = make_build(app, trigger=trigger, commit_sha=SHA, delivery_id="abc-123")
    Delivery.objects.create(trigger=trigger, delivery_id="abc-123", event="push", ref="refs/heads/main",
                            commit_sha=SHA, status_code=202, outcome="Build queued", build=build)
    Delivery.objects.create(trigger=trigger, event="push", ref="refs/heads/wip", status_code=200,
                            outcome="The ref does not match the filter")
    client = login_as(alice)

    listed = text(client.get(TRIGGERS))
    detail = text(client.get(f"{TRIGGERS}{trigger.pk}/"))

    assert "Build queued" in listed and "does not match the filter" in listed
    assert detail.count('class="delivery-row"') == 2 and "abc-123" in detail
    assert f'href="{BUILDS}{build.pk}/"' in detail


def test_a_disabled_trigger_says_why(login_as: Login, app: Repository, alice: User) -> None:
    trigger = make_trigger(app, enabled=False, disabled_reason="Disabled after 5 failed builds in a row.")

    assert "Disabled after 5 failed builds in a row." in text(login_as(alice).get(TRIGGERS))
    assert "Disabled after 5 failed builds" in text(login_as(alice).get(f"{TRIGGERS}{trigger.pk}/"))


def test_start_build_on_a_trigger_builds_the_given_commit(login_as: Login, app: Repository, alice: User) -> None:
    trigger = make_trigger(app, default_branch="main")

    response = login_as(alice).post(f"{TRIGGERS}{trigger.pk}/", {"action": "start", "commit": SHA})

    build = Build.objects.get()
    assert response["Location"] == f"{BUILDS}{build.pk}/"
    assert (build.trigger_id, build.commit_sha, build.ref, build.source_kind) == (trigger.pk, SHA, "refs/heads/main",
                                                                                 "git")
    assert build.tags == ["main", SHA[:7], "latest"] and build.started_by_name == "alice"


def test_start_build_without_a_reachable_branch_head_says_why(login_as: Login, app: Repository,
                                                              alice: User) -> None:
    # git.example.com answers nothing: the head cannot be read.
    trigger = make_trigger(app)

    response = login_as(alice).post(f"{TRIGGERS}{trigger.pk}/", {"action": "start", "commit": ""})

    assert response.status_code == 400 and not Build.objects.exists()
    assert 'data-testid="start-form"' in text(response)


def test_the_github_picker_asks_to_connect_github_for_builds_first(login_as: Login, app: Repository, alice: User,
                                                                  settings: Any) -> None:
    settings.SOCIAL_AUTH_GITHUB_KEY = "an-app"
    page = text(login_as(alice).get(f"{TRIGGERS}new/?kind=github"))

    assert not github.connected(alice) and 'data-testid="connect-github"' in page
    assert 'name="for" value="builds"' in page and 'name="next" value="/repository/alice/app/triggers/new/' in page


def test_without_a_github_app_the_picker_says_how_to_set_one_up(login_as: Login, app: Repository, alice: User,
                                                                settings: Any) -> None:
    settings.SOCIAL_AUTH_GITHUB_KEY = ""
    page = text(login_as(alice).get(f"{TRIGGERS}new/?kind=github"))

    assert 'data-testid="github-missing"' in page and "GITHUB_CLIENT_ID" in page


def test_the_builds_tab_links_the_triggers_for_admins(login_as: Login, app: Repository, alice: User) -> None:
    page = text(login_as(alice).get(BUILDS))

    assert 'data-testid="triggers-link"' in page and 'data-testid="upload-form"' in page


# --- Creating a repository with a build start ---------------------------------------------------------------------

def test_the_create_form_offers_the_build_starts(login_as: Login, alice: User) -> None:
    page = text(login_as(alice).get("/repository/new/"))

    inputs = re.findall(r'<input type="radio" name="start"[^>]*>', page)
    assert len(inputs) == 3 and not any("disabled" in tag for tag in inputs)


@pytest.mark.parametrize(("start", "location"), [("github", "/repository/alice/app/triggers/new/?kind=github"),
                                                 ("dockerfile", "/repository/alice/app/builds/#start"),
                                                 ("empty", "/repository/alice/app/")])
def test_a_build_start_leads_on_after_creating(login_as: Login, alice: User, start: str, location: str) -> None:
    response = login_as(alice).post("/repository/new/", {"namespace": "alice", "name": "app",
                                                         "visibility": "private", "start": start})

    assert response.status_code == 302 and response["Location"] == location
    assert Repository.objects.filter(full_name="alice/app").exists()
