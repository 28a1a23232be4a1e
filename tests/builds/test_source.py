"""Cloning a build's source with real git: file:// repositories made here, ssh to a closed port, a stand-in ssh
that reports the deploy key file it was handed. No database."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from builds import source
from builds.source import SourceError, clone, redact, resolve

KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ-SECRET-KEY-MATERIAL\n"
       "-----END OPENSSH PRIVATE KEY-----\n")


@dataclass
class Origin:
    url: str
    path: Path
    commits: list[str]    # oldest first: "one", "two", "three" (main's head)


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
           "GIT_COMMITTER_NAME": "alice", "GIT_COMMITTER_EMAIL": "alice@example.com", "GIT_CONFIG_GLOBAL": "/dev/null"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(autouse=True)
def file_urls_and_private_tmp(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    settings.WHARF_BUILD_ALLOW_FILE_URLS = True
    # The key's private directory lands here, where the test can see it is gone afterwards.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    path = tmp_path / "origin"
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch", "main")
    commits = []
    for word in ("one", "two", "three"):
        (path / "Dockerfile").write_text(f"FROM scratch\nLABEL step={word}\n")
        git(path, "add", "Dockerfile")
        git(path, "commit", "--quiet", "-m", f"{word}\n\nbody of {word}")
        commits.append(git(path, "rev-parse", "HEAD"))
        if word == "one":
            git(path, "tag", "-a", "v1", "-m", "release one")     # annotated: ls-remote must peel it
        if word == "two":
            git(path, "tag", "v2")
    return Origin(f"file://{path}", path, commits)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_it_clones_a_commit_that_is_not_the_branch_head(origin: Origin, tmp_path: Path) -> None:
    lines: list[str] = []
    dest = tmp_path / "build" / "src"
    sha = clone(origin.url, origin.commits[1], dest, ref="main", log=lines.append)
    assert sha == origin.commits[1]
    assert git(dest, "rev-parse", "HEAD") == origin.commits[1]
    assert "LABEL step=two" in (dest / "Dockerfile").read_text()
    assert git(dest, "rev-list", "--count", "HEAD") == "1"       # shallow
    assert git(dest, "status", "--porcelain") == ""
    assert lines == [f"Cloning {origin.url} at {sha[:12]}", f"Checked out {sha[:12]} (two)"]


def test_it_clones_the_head_of_a_branch_or_tag_when_no_commit_is_given(origin: Origin, tmp_path: Path) -> None:
    assert clone(origin.url, "", tmp_path / "a", ref="main", log=lambda _: None) == origin.commits[2]
    assert clone(origin.url, "", tmp_path / "b", ref="v1", log=lambda _: None) == origin.commits[0]


def test_it_falls_back_to_the_ref_when_the_server_refuses_a_bare_commit_id(origin: Origin, tmp_path: Path,
                                                                            monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Protocol v0 with uploadpack.allowReachableSHA1InWant off (the default) serves advertised refs only.
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "protocol.version")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "0")
    lines: list[str] = []
    sha = clone(origin.url, origin.commits[0], tmp_path / "src", ref="main", log=lines.append)
    assert sha == origin.commits[0]
    assert git(tmp_path / "src", "rev-parse", "HEAD") == origin.commits[0]
    assert f"The server did not give commit {sha[:12]} by its id; fetching main instead" in lines
    assert f"{sha[:12]} is not among the last 1 commits of main" in lines
    with pytest.raises(SourceError, match=f"Commit {origin.commits[0][:12]} is not in the repository"):
        clone(origin.url, origin.commits[0], tmp_path / "again", log=lambda _: None)


def test_a_commit_that_does_not_exist_is_an_error_and_leaves_no_directory(origin: Origin, tmp_path: Path) -> None:
    dest = tmp_path / "src"
    with pytest.raises(SourceError, match="Commit 123456789012 is not in the repository"):
        clone(origin.url, "1234567890" * 4, dest, log=lambda _: None)
    assert not dest.exists()
    with pytest.raises(SourceError, match="is not in the last 1000 commits of main"):
        clone(origin.url, "1234567890" * 4, dest, ref="main", log=lambda _: None)
    with pytest.raises(SourceError, match="no branch or tag 'nope'"):
        clone(origin.url, "", dest, ref="nope", log=lambda _: None)
    with pytest.raises(SourceError, match="not a full commit id"):
        clone(origin.url, "abc123", dest, log=lambda _: None)


def test_it_resolves_a_branch_and_a_tag(origin: Origin) -> None:
    assert resolve(origin.url, "main") == origin.commits[2]
    assert resolve(origin.url, "v1") == origin.commits[0]          # the commit, not the annotated tag object
    assert resolve(origin.url, "refs/tags/v1") == origin.commits[0]
    assert resolve(origin.url, "v2") == origin.commits[1]
    with pytest.raises(SourceError, match="There is no branch or tag 'nope'"):
        resolve(origin.url, "nope")


def test_values_git_would_read_as_options_are_refused(origin: Origin, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="clone URL is not valid"):
        resolve("--upload-pack=touch /tmp/owned", "main")
    with pytest.raises(SourceError, match="not a valid branch or tag name"):
        clone(origin.url, "", tmp_path / "src", ref="--upload-pack=touch", log=lambda _: None)


def test_a_repository_that_cannot_be_reached_says_so(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="The repository could not be reached") as caught:
        clone(f"file://{tmp_path}/missing", "", tmp_path / "src", ref="main", log=lambda _: None)
    assert "does not appear to be a git repository" in str(caught.value)


def test_file_urls_work_only_where_allowed(origin: Origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WHARF_BUILD_ALLOW_FILE_URLS = False
    with pytest.raises(SourceError, match="transport 'file' not allowed"):
        resolve(origin.url, "main")


def test_a_deploy_key_never_shows_and_is_removed_after_a_failed_clone(tmp_path: Path) -> None:
    url = f"ssh://git@127.0.0.1:{closed_port()}/alice/app.git"
    lines: list[str] = []
    with pytest.raises(SourceError, match="The repository could not be reached") as caught:
        clone(url, "", tmp_path / "src", ref="main", deploy_key=KEY, log=lines.append)
    assert "Connection refused" in str(caught.value)
    with pytest.raises(SourceError, match="could not be reached") as resolved:
        resolve(url, "main", deploy_key=KEY)
    for text in (str(caught.value), str(resolved.value), *lines):
        assert "SECRET-KEY-MATERIAL" not in text and "PRIVATE KEY" not in text
    assert list((tmp_path / "tmp").iterdir()) == []                  # the key's directory is gone
    assert not (tmp_path / "src").exists()


def test_ssh_gets_the_deploy_key_from_a_0600_file_outside_the_build_directory(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A stand-in ssh on PATH (git runs GIT_SSH_COMMAND through the shell) reports what it was handed.
    bin_dir, report = tmp_path / "bin", tmp_path / "report"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(
        "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in -i) key=$2;; esac\n  echo \"arg $1\" >> " f"{report}\n"
        "  shift\ndone\n"
        f"stat -c 'mode %a' \"$key\" >> {report}\necho \"path $key\" >> {report}\ncat \"$key\" >> {report}\n"
        "echo 'git@127.0.0.1: Permission denied (publickey).' >&2\nexit 255\n")
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    dest = tmp_path / "src"
    with pytest.raises(SourceError, match="Authentication failed: add the deploy key") as caught:
        clone("git@127.0.0.1:alice/app.git", "", dest, ref="main", deploy_key=KEY, log=lambda _: None)
    assert "SECRET-KEY-MATERIAL" not in str(caught.value)
    told = report.read_text()
    key_path = Path(told.split("path ", 1)[1].splitlines()[0])
    assert "mode 600" in told and KEY in told
    assert tmp_path / "tmp" in key_path.parents and dest not in key_path.parents
    assert "arg IdentitiesOnly=yes" in told and "arg StrictHostKeyChecking=accept-new" in told
    assert "arg BatchMode=yes" in told and "SECRET" not in told.split("-----BEGIN")[0]   # not in argv
    assert not key_path.exists() and list((tmp_path / "tmp").iterdir()) == []


def test_without_a_deploy_key_ssh_is_offered_no_key_at_all(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bin_dir, report = tmp_path / "bin", tmp_path / "report"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(f"#!/bin/sh\necho \"$@\" > {report}\nexit 255\n")
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    with pytest.raises(SourceError):
        resolve("ssh://git@127.0.0.1/alice/app.git", "main")
    argv = report.read_text().split()
    assert "-i" not in argv and "IdentityFile=none" in argv and "IdentityAgent=none" in argv   # not the worker's


def test_credentials_in_a_url_never_show_in_messages_or_logs(tmp_path: Path) -> None:
    url = f"https://alice:s3cret-token@127.0.0.1:{closed_port()}/alice/app.git"
    lines: list[str] = []
    with pytest.raises(SourceError, match="could not be reached") as caught:
        clone(url, "", tmp_path / "src", ref="main", log=lines.append)
    with pytest.raises(SourceError, match="could not be reached") as resolved:
        resolve(url, "main")
    for text in (str(caught.value), str(resolved.value), *lines):
        assert "s3cret" not in text and "alice:" not in text
    assert lines[0].startswith("Cloning https://127.0.0.1:")


def test_redact_takes_passwords_and_https_user_parts_out_of_text() -> None:
    assert redact("fatal: https://x-access-token:ghs_abc@github.com/a/b.git") == "fatal: https://github.com/a/b.git"
    assert redact("see https://ghp_token@github.com/a") == "see https://github.com/a"
    assert redact("ssh://git:pw@host/a and ssh://git@host/b") == "ssh://git@host/a and ssh://git@host/b"
    assert source._split_credentials("https://u%40x:p%3Aw@host:8443/r.git") == ("https://host:8443/r.git", "u@x", "p:w")
    assert source._split_credentials("git@github.com:a/b.git") == ("git@github.com:a/b.git", None, None)



def test_https_credentials_reach_git_through_its_credential_helper_only(tmp_path: Path) -> None:
    # What git would send to the server when it asks (git credential fill), from the environment clone uses.
    with source._git_env("https://x-access-token:ghs_t%40ken@github.com/alice/app.git", None) as (url, env):
        asked = subprocess.run(["git", "credential", "fill"], input="protocol=https\nhost=github.com\n\n",
                               env={**os.environ, **env}, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert url == "https://github.com/alice/app.git"
    assert "username=x-access-token\npassword=ghs_t@ken\n" in asked.stdout
    assert all("ghs_" not in value for key, value in env.items() if key != "WHARF_GIT_PASSWORD")
