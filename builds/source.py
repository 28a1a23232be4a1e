"""A build's source on the worker's disk: a shallow clone of one commit (gitpython), or an uploaded Dockerfile or
context archive unpacked with every path checked. Nothing is written outside the build's own directory, and
credentials never appear in argv, URLs or logs."""

from __future__ import annotations

import io
import lzma
import os
import re
import shlex
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import IO, BinaryIO
from urllib.parse import unquote, urlsplit, urlunsplit

import git
from django.conf import settings

GIT_TIMEOUT = 600   # seconds for one git command: a big fetch may be slow, a hung server must not hold a worker
DOCKERFILE_LIMIT = 1024 * 1024
CHUNK = 1024 * 1024
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/@\s]*)@")
# git's own messages (LC_ALL=C) told apart so the build's error line says what to do.
_AUTH = ("permission denied", "authentication failed", "could not read username", "could not read password",
         "terminal prompts disabled", "invalid username or password", "requested url returned error: 401",
         "requested url returned error: 403", "host key verification failed")
_NO_OBJECT = ("not our ref", "couldn't find remote ref", "unadvertised object", "no such remote ref",
              "not a valid object", "bad object", "upload-pack: not our ref", "remote did not send all")


class SourceError(Exception):
    """The source cannot be fetched or unpacked; the message is for the build's log and error line."""


# --- git ------------------------------------------------------------------------------------------------------

def clone(url: str, commit: str, dest: Path, *, ref: str = "", deploy_key: str | None = None,
          log: Callable[[str], None] = print) -> str:
    """A shallow clone of `commit` (or, when it is empty, of `ref`'s head) of `url` into `dest` (which must not
    exist yet); returns the full id of the commit checked out. A deploy key (OpenSSH private key text) is
    written to a 0600 file outside `dest` for the length of the clone and used through GIT_SSH_COMMAND.
    Submodules are not fetched: their URLs are the repository author's choice and the deploy key is for this
    repository only."""
    commit = (commit or "").strip().lower()
    _check_args(url, ref)
    if commit and not _SHA.fullmatch(commit):
        raise SourceError(f"{commit[:64]!r} is not a full commit id.")
    if not commit and not ref:
        raise SourceError("Give a commit or a branch or tag to build.")
    if dest.exists():
        raise SourceError("The build directory is already in use.")
    with _git_env(url, deploy_key) as (clean_url, env):
        log(f"Cloning {clean_url} at {commit[:12] or ref}")
        dest.mkdir(parents=True)
        try:
            run = git.Git(str(dest))
            _git(run, env, "init", "--quiet")
            _git(run, env, "remote", "add", "origin", clean_url)
            head = _fetch(run, env, commit, ref, log) if commit else _fetch_ref(run, env, ref, depth=1)
            _git(run, env, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", head)
            subject = _git(run, env, "log", "-1", "--format=%s", head)
        except SourceError:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    log(f"Checked out {head[:12]} ({subject[:200]})")
    return head


def resolve(url: str, ref: str, *, deploy_key: str | None = None) -> str:
    """The commit id that `ref` (a branch or tag name, or refs/…) points at now (git ls-remote)."""
    _check_args(url, ref)
    if not ref:
        raise SourceError("Give a branch or tag to build.")
    names = [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    with _git_env(url, deploy_key) as (clean_url, env), tempfile.TemporaryDirectory() as nowhere:
        out = _git(git.Git(nowhere), env, "ls-remote", clean_url, *names, *(f"{name}^{{}}" for name in names))
    found = {name: sha for sha, _, name in (line.partition("\t") for line in out.splitlines())}
    for name in names:
        # An annotated tag's own id is not a commit; its peeled line (^{}) is.
        if sha := found.get(f"{name}^{{}}") or found.get(name):
            return sha
    raise SourceError(f"There is no branch or tag {ref!r} in the repository.")


def redact(text: str) -> str:
    """`text` with any URL's password (and an https URL's whole user part, often a token) taken out."""
    def keep(match: re.Match[str]) -> str:
        scheme, userinfo = match[1], match[2]
        if scheme.lower().startswith("http") or not userinfo:
            return scheme
        return f"{scheme}{userinfo.split(':', 1)[0]}@"
    return _USERINFO.sub(keep, text)


def _check_args(url: str, ref: str) -> None:
    # A value starting with "-" would be read by git as an option (--upload-pack=… runs a command).
    if not url or url.startswith("-") or any(c in url for c in "\x00\n\r"):
        raise SourceError("The clone URL is not valid.")
    if ref.startswith("-") or any(c in ref for c in "\x00\n\r \t~^:?*[\\"):
        raise SourceError(f"{ref[:100]!r} is not a valid branch or tag name.")


def _fetch(run: git.Git, env: dict[str, str], commit: str, ref: str, log: Callable[[str], None]) -> str:
    try:
        _git(run, env, "fetch", "--quiet", "--depth", "1", "--no-tags", "origin", commit)
        return commit
    except SourceError as exc:
        if not isinstance(exc, _NoObject):
            raise
        if not ref:
            raise SourceError(f"Commit {commit[:12]} is not in the repository.") from None
    # Servers that serve only advertised refs (uploadpack.allowReachableSHA1InWant off, protocol v0) refuse a
    # bare commit id: fetch the ref, and go deeper when the commit is no longer its head.
    log(f"The server did not give commit {commit[:12]} by its id; fetching {ref} instead")
    for depth in (1, 50, 1000):
        head = _fetch_ref(run, env, ref, depth=depth)
        if head == commit or _has_commit(run, env, commit):
            return commit
        log(f"{commit[:12]} is not among the last {depth} commits of {ref}")
    raise SourceError(f"Commit {commit[:12]} is not in the last 1000 commits of {ref}.")


def _fetch_ref(run: git.Git, env: dict[str, str], ref: str, *, depth: int) -> str:
    try:
        _git(run, env, "fetch", "--quiet", "--depth", str(depth), "--no-tags", "origin", ref)
    except _NoObject:
        raise SourceError(f"There is no branch or tag {ref!r} in the repository.") from None
    return _git(run, env, "rev-parse", "FETCH_HEAD^{commit}")


def _has_commit(run: git.Git, env: dict[str, str], commit: str) -> bool:
    try:
        _git(run, env, "cat-file", "-e", f"{commit}^{{commit}}")
    except SourceError:
        return False
    return True


class _NoObject(SourceError):
    """The server was reached but has no such commit or ref."""


def _git(run: git.Git, env: dict[str, str], *args: str) -> str:
    try:
        return str(run.execute(["git", *args], env=env, kill_after_timeout=GIT_TIMEOUT))
    except git.GitCommandError as exc:
        # Never str(exc): it quotes the command line. Only git's own words, redacted.
        said = redact(str(exc.stderr or "")).strip().removeprefix("stderr: '").removesuffix("'")
        low = said.lower()
        reason = _first_telling_line(said)
        if "timeout:" in low:
            raise SourceError(f"git {args[0]} took longer than {GIT_TIMEOUT} seconds and was stopped.") from None
        if any(word in low for word in _AUTH):
            raise SourceError("Authentication failed: add the deploy key's public half to the repository as a "
                              f"read-only deploy key, or check the clone URL ({reason}).") from None
        if any(word in low for word in _NO_OBJECT):
            raise _NoObject(reason) from None
        if args[0] in ("fetch", "ls-remote"):
            raise SourceError(f"The repository could not be reached ({reason}).") from None
        raise SourceError(f"git {args[0]} failed ({reason}).") from None
    except OSError as exc:
        raise SourceError(f"git could not be run ({exc.strerror}).") from None


def _first_telling_line(said: str) -> str:
    """git's own reason, not its closing advice ("Please make sure you have the correct access rights…")."""
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    advice = ("please make sure", "and the repository exists", "fatal: could not read from remote repository")
    telling = [line for line in lines if not line.lower().startswith(advice)]
    return (telling or lines or ["no message"])[0][:300]


@contextmanager
def _git_env(url: str, deploy_key: str | None) -> Iterator[tuple[str, dict[str, str]]]:
    """The URL without credentials, and the environment for git: no prompts, no user or system config, only
    the allowed protocols, credentials through a helper that reads them from the environment, and ssh with
    the deploy key (or no key at all: never the worker's own) from a private directory deleted afterwards."""
    clean_url, username, password = _split_credentials(url)
    private = Path(tempfile.mkdtemp(prefix="wharf-git-"))   # 0700, outside the build directory
    try:
        key = private / "key"
        if deploy_key:
            text = deploy_key.strip().replace("\r\n", "\n") + "\n"
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
        # Without a deploy key ssh offers no key at all: never the worker's own (~/.ssh) or its agent's.
        identity = ["-i", str(key)] if deploy_key else ["-o", "IdentityFile=none"]
        ssh = ["ssh", *identity, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
               "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={private / 'known_hosts'}",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-F", "/dev/null"]
        protocols = "https:ssh" + (":file" if settings.WHARF_BUILD_ALLOW_FILE_URLS else "")
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false",
               "GIT_SSH_COMMAND": shlex.join(ssh), "GIT_SSH_VARIANT": "ssh", "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_ALLOW_PROTOCOL": protocols, "GIT_LFS_SKIP_SMUDGE": "1"}
        if username is not None:
            env |= {"WHARF_GIT_USERNAME": username, "WHARF_GIT_PASSWORD": password or "",
                    "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "credential.helper",
                    "GIT_CONFIG_VALUE_0": "!f() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' "
                                          "\"$WHARF_GIT_USERNAME\" \"$WHARF_GIT_PASSWORD\"; }; f"}
        yield clean_url, env
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(URL without credentials, username, password): an https URL's user part goes to git through the
    credential helper, never in argv or .git/config (which lands in the build context). An ssh URL keeps its
    user name (git@…) and loses any password (ssh takes keys only)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme.lower() in ("http", "https"):
        clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
        return clean, unquote(parts.username or ""), unquote(parts.password or "")
    if parts.password is not None:
        user = parts.netloc.rpartition("@")[0].split(":", 1)[0]
        return urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, parts.fragment)), None, None
    return url, None, None


# --- uploads ----------------------------------------------------------------------------------------------------

def unpack(upload: BinaryIO, name: str, dest: Path, *, max_bytes: int, max_entries: int = 100_000) -> None:
    """Unpack an upload into `dest` (an existing empty directory): a tar, tar.gz or zip archive (told by its
    first bytes, not its name), or else a Dockerfile (written as dest/Dockerfile). Refuses absolute paths,
    `..`, links that point outside `dest`, devices, more than `max_bytes` unpacked or `max_entries` entries
    (SourceError, counted while streaming, so a decompression bomb stops early); on refusal `dest` is left
    empty."""
    start = upload.tell() if upload.seekable() else 0
    head = _read_exactly(upload, 512)
    stream = _Prefixed(head, upload)
    with _Writer(dest, max_bytes, max_entries) as writer:
        try:
            if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
                _unzip(upload, start, stream, dest, writer, max_bytes)
            elif _is_tar(head):
                _untar(stream, writer)
            else:
                _dockerfile(stream, name, writer)
            writer.check_links()
        except BaseException:
            _empty(writer.root)
            raise


def _is_tar(head: bytes) -> bool:
    compressed = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
    return head.startswith(compressed) or head[257:262] == b"ustar"


def _untar(stream: _Prefixed, writer: _Writer) -> None:
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            for member in archive:
                writer.count_entry()
                parts = writer.parts(member.name)
                try:
                    tarfile.data_filter(member, str(writer.root))   # a second opinion; ours below decide
                except tarfile.FilterError as exc:
                    raise SourceError(f"The archive entry {member.name[:200]!r} is refused ({exc}).") from None
                if member.isdir():
                    writer.directory(parts)
                elif member.isreg():
                    writer.file(parts, member.size, member.mode, archive.extractfile(member))
                elif member.issym():
                    writer.symlink(parts, member.linkname)
                elif member.islnk():
                    writer.hardlink(parts, writer.parts(member.linkname))
                else:
                    raise SourceError(f"The archive entry {member.name[:200]!r} is a device or fifo; "
                                      "a build context holds only files, directories and links.")
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise SourceError(f"The upload is not a readable tar archive ({exc}).") from None
    except OSError as exc:   # bz2 says "Invalid data stream" this way; the disk says ENOSPC
        raise SourceError(f"The tar archive could not be unpacked ({exc.strerror or exc}).") from None


def _unzip(upload: BinaryIO, start: int, stream: _Prefixed, dest: Path, writer: _Writer, max_bytes: int) -> None:
    with ExitStack() as cleanup:
        _unzip_from(upload, start, stream, dest, writer, max_bytes, cleanup)


def _unzip_from(upload: BinaryIO, start: int, stream: _Prefixed, dest: Path, writer: _Writer, max_bytes: int,
                cleanup: ExitStack) -> None:
    try:
        if upload.seekable():
            upload.seek(start)
            source: IO[bytes] = upload
        else:
            # zip's directory is at its end: keep a copy to seek in, beside dest (never inside it).
            spool = source = cleanup.enter_context(tempfile.TemporaryFile(dir=dest.parent))  # noqa: SIM115 (ExitStack)
            copied = 0
            while chunk := stream.read(CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    raise SourceError(f"The archive is larger than {max_bytes} bytes.")
                spool.write(chunk)
            spool.seek(0)
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
            if len(infos) > writer.max_entries:
                raise SourceError(f"The archive has more than {writer.max_entries} entries.")
            for info in infos:
                writer.count_entry()
                parts = writer.parts(info.filename)
                # Unix modes only from a Unix zip; no type bits there means a plain file.
                mode = info.external_attr >> 16 if info.create_system == 3 else 0
                if info.is_dir():
                    writer.directory(parts)
                elif stat.S_ISLNK(mode):
                    with archive.open(info) as link:
                        target = link.read(4097)
                    if len(target) > 4096:
                        raise SourceError(f"The archive entry {info.filename[:200]!r} is not a valid link.")
                    writer.symlink(parts, target.decode("utf-8", "replace"))
                elif stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                    raise SourceError(f"The archive entry {info.filename[:200]!r} is a device or fifo; "
                                      "a build context holds only files, directories and links.")
                else:
                    with archive.open(info) as member:
                        writer.file(parts, info.file_size, mode, member)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error, ValueError) as exc:
        raise SourceError(f"The upload is not a readable zip archive ({exc}).") from None
    except OSError as exc:
        raise SourceError(f"The zip archive could not be unpacked ({exc.strerror or exc}).") from None


def _dockerfile(stream: _Prefixed, name: str, writer: _Writer) -> None:
    data = _read_exactly(stream, DOCKERFILE_LIMIT + 1)
    if not data.strip():
        raise SourceError("The upload is empty.")
    if len(data) > DOCKERFILE_LIMIT:
        raise SourceError(f"{name[:100] or 'The upload'} is not a tar or zip archive, and too large for a "
                          f"Dockerfile (at most {DOCKERFILE_LIMIT} bytes).")
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, data.index(b"\x00"), data.index(b"\x00") + 1, "NUL")
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{name[:100] or 'The upload'} is neither a tar or zip archive nor a Dockerfile "
                          "(UTF-8 text).") from None
    writer.count_entry()
    writer.file(("Dockerfile",), len(data), 0o644, io.BytesIO(data))


class _Writer:
    """Writes entries under `root` through directory descriptors opened with O_NOFOLLOW, one component at a
    time: no entry can land outside `root` or go through a link, whatever came before it."""

    def __init__(self, root: Path, max_bytes: int, max_entries: int) -> None:
        self.root = root.resolve()
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self.total = self.entries = 0
        self.files: set[tuple[str, ...]] = set()    # regular files written so far: the only hardlink targets
        self.links: list[tuple[str, ...]] = []
        self.fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        if os.listdir(self.fd):
            os.close(self.fd)
            raise SourceError("The build directory is not empty.")

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def count_entry(self) -> None:
        self.entries += 1
        if self.entries > self.max_entries:
            raise SourceError(f"The archive has more than {self.max_entries} entries.")

    def parts(self, name: str) -> tuple[str, ...]:
        shown = repr(name[:200])
        if "\x00" in name or "\\" in name or any(ord(c) < 32 for c in name):
            raise SourceError(f"The archive entry {shown} has a control character or backslash in its name.")
        if name.startswith("/"):
            raise SourceError(f"The archive entry {shown} has an absolute path.")
        parts = tuple(part for part in name.split("/") if part not in ("", "."))
        if ".." in parts:
            raise SourceError(f"The archive entry {shown} points outside the build context (..).")
        return parts

    def directory(self, parts: tuple[str, ...]) -> None:
        if parts:
            os.close(self._parent(parts + ("",)))

    def file(self, parts: tuple[str, ...], size: int, mode: int, data: IO[bytes] | None) -> None:
        if not parts or data is None:
            raise SourceError("The archive has a file entry without a name.")
        if size > self.max_bytes or self.total + size > self.max_bytes:
            raise SourceError(f"The archive unpacks to more than {self.max_bytes} bytes.")
        parent = self._parent(parts)
        try:
            self._clear(parent, parts)
            mode = 0o755 if mode & 0o111 else 0o644    # the executable bit kept; setuid, setgid, sticky dropped
            fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=parent)
            written = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := data.read(CHUNK):
                    written += len(chunk)
                    self.total += len(chunk)
                    if self.total > self.max_bytes or written > size:
                        raise SourceError(f"The archive unpacks to more than {self.max_bytes} bytes.")
                    out.write(chunk)
                os.fchmod(out.fileno(), mode)   # not narrowed by the worker's umask
            if written != size:
                raise SourceError(f"The archive ends in the middle of {'/'.join(parts)[:200]!r}.")
        finally:
            os.close(parent)
        self.files.add(parts)

    def symlink(self, parts: tuple[str, ...], target: str) -> None:
        if not parts or not target or "\x00" in target:
            raise SourceError(f"The archive link {'/'.join(parts)[:200]!r} is not valid.")
        inside = os.path.normpath(os.path.join(*parts[:-1], target)) if len(parts) > 1 else os.path.normpath(target)
        if target.startswith("/") or inside == ".." or inside.startswith("../"):
            raise SourceError(f"The archive link {'/'.join(parts)[:200]!r} points outside the build context "
                              f"({target[:200]!r}).")
        parent = self._parent(parts)
        try:
            self._clear(parent, parts)
            os.symlink(target, parts[-1], dir_fd=parent)
        finally:
            os.close(parent)
        self.links.append(parts)

    def hardlink(self, parts: tuple[str, ...], target: tuple[str, ...]) -> None:
        if target not in self.files or not parts:
            raise SourceError(f"The archive link {'/'.join(parts)[:200]!r} is a hard link to "
                              f"{'/'.join(target)[:200]!r}, which is not a file unpacked before it.")
        source, parent = self._parent(target), self._parent(parts)
        try:
            self._clear(parent, parts)
            os.link(target[-1], parts[-1], src_dir_fd=source, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(source)
            os.close(parent)
        self.files.add(parts)

    def check_links(self) -> None:
        """A link's target may go through links unpacked after it: once all are in place, each must resolve
        inside the build context."""
        for parts in self.links:
            real = os.path.realpath(self.root.joinpath(*parts))
            if real != str(self.root) and not real.startswith(f"{self.root}/"):
                raise SourceError(f"The archive link {'/'.join(parts)[:200]!r} leads outside the build context.")

    def _parent(self, parts: tuple[str, ...]) -> int:
        """An open descriptor of the directory that holds `parts`, made as needed, never through a link."""
        fd = os.dup(self.fd)
        try:
            for part in parts[:-1]:
                with suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                try:
                    child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError:
                    raise SourceError(f"The archive entry {'/'.join(parts)[:200]!r} goes through a link or a "
                                      "file.") from None
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _clear(self, parent: int, parts: tuple[str, ...]) -> None:
        """A later entry of the same name replaces a file or link (as tar does); never a directory."""
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise SourceError(f"The archive entry {'/'.join(parts)[:200]!r} would replace a directory.")
        os.unlink(parts[-1], dir_fd=parent)
        self.files.discard(parts)
        if parts in self.links:
            self.links.remove(parts)


class _Prefixed(io.RawIOBase):
    """The bytes already read to tell the kind of upload, then the rest of the upload: no seeking needed."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data, self.head = self.head + self.rest.read(), b""
            return data
        if self.head:
            data, self.head = self.head[:size], self.head[size:]
            return data
        return self.rest.read(size)

    def readinto(self, buffer: memoryview) -> int:   # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _read_exactly(upload: IO[bytes] | _Prefixed, size: int) -> bytes:
    data = b""
    while len(data) < size and (chunk := upload.read(size - len(data))):
        data += chunk
    return data


def _empty(dest: Path) -> None:
    """Remove everything unpacked so far (rmtree and unlink never follow the links)."""
    for entry in os.scandir(dest):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)
