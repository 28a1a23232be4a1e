"""The client commands the pages offer (login, push, pull), written for how this request reached the server.

On plain HTTP podman, skopeo and buildah refuse the registry unless told `--tls-verify=false`, so every
command that talks to the registry carries it there; behind TLS (request.is_secure(), which counts a
trusted proxy's X-Forwarded-Proto) it is left out. docker has no per-command flag: on plain HTTP the pages
add `docker_note` instead. Every page and snippet builds its commands here, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

TLS_OFF = "--tls-verify=false"


@dataclass(frozen=True)
class Command:
    """A command shown with a copy button: `id` is unique on the page, `label` names it."""

    id: str
    label: str
    command: str


def registry_host(request: HttpRequest) -> str:
    """host[:port] as clients name the registry: the one the browser used to reach this page."""
    return request.get_host()


def podman_flags(request: HttpRequest) -> list[str]:
    """The flags podman, skopeo and buildah need to reach this registry the way this request did."""
    return [] if request.is_secure() else [TLS_OFF]


def quote(value: str) -> str:
    """Single-quoted for a POSIX shell, so a copied secret or robot name (`acme+ci`) reaches the tool as is."""
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _podman(request: HttpRequest, verb: str, *args: str) -> str:
    return " ".join(["podman", verb, *podman_flags(request), *args])


def login_command(request: HttpRequest, username: str = "", secret: str = "") -> str:
    """`podman login`, with the username and secret (or a placeholder such as TOKEN) when given."""
    credentials = [*(["-u", quote(username)] if username else []), *(["-p", quote(secret)] if secret else [])]
    return _podman(request, "login", *credentials, registry_host(request))


def image_name(request: HttpRequest, full_name: str) -> str:
    return f"{registry_host(request)}/{full_name}"


def push_command(request: HttpRequest, full_name: str, tag: str = "TAG", image: str = "IMAGE") -> str:
    """Push a local image (IMAGE, a placeholder unless given) as `full_name:tag`."""
    target = f"{image_name(request, full_name)}:{tag}" if tag else image_name(request, full_name)
    return _podman(request, "push", image, target)


def pull_command(request: HttpRequest, full_name: str, tag: str = "", digest: str = "") -> str:
    """podman pull by digest when one is given, else by tag."""
    reference = f"@{digest}" if digest else f":{tag}"
    return _podman(request, "pull", image_name(request, full_name) + reference)


def pull_by_tag_prefix(request: HttpRequest, full_name: str) -> str:
    """pull_command(full_name, tag=T) is this followed by T: a list of tags builds it once, not per row."""
    return pull_command(request, full_name, tag="")


def pull_commands(request: HttpRequest, full_name: str, tag: str, digest: str = "") -> list[Command]:
    """podman and docker, by tag and (when there is an image) by digest."""
    image = image_name(request, full_name)
    commands = [Command("pull-podman-tag", "podman, by tag", pull_command(request, full_name, tag=tag)),
                Command("pull-docker-tag", "docker, by tag", f"docker pull {image}:{tag}")]
    if digest:
        by_digest = pull_command(request, full_name, digest=digest)
        commands += [Command("pull-podman-digest", "podman, by digest", by_digest),
                     Command("pull-docker-digest", "docker, by digest", f"docker pull {image}@{digest}")]
    return commands


def build_commands(request: HttpRequest, full_name: str, tag: str = "latest") -> list[str]:
    """Build from the Containerfile here and push. `podman build` only reads the local context (and pulls
    base images from wherever FROM says), so it gets no TLS flag: that would weaken those pulls too."""
    target = f"{image_name(request, full_name)}:{tag}"
    return [f"podman build -t {target} .", _podman(request, "push", target)]


def docker_note(request: HttpRequest) -> str:
    """On plain HTTP, what docker needs instead of a flag; empty behind TLS."""
    if request.is_secure():
        return ""
    return (f"docker reaches a plain-HTTP registry only when its daemon lists {registry_host(request)} "
            f"in \"insecure-registries\" (/etc/docker/daemon.json); it has no per-command flag.")
