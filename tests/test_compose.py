"""docker-compose.yml names only things that exist: images, commands, settings, queues, the proxy's config and
the health endpoints; and its Wharf containers share nothing but the servers (no volume between them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery
from django.conf import settings
from django.core.management import get_commands

from tests.conftest import ROOT

WHARF_IMAGE = "localhost/wharf:latest"
QUEUES = {"default", "builds", "scans"}
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
WHARF = {name: service for name, service in SERVICES.items() if service.get("image") == WHARF_IMAGE}
WEB = {name: service for name, service in WHARF.items() if service["command"][0] == "gunicorn"}
READERS = {label: ROOT / label for label in ("portal/settings.py", "portal/gunicorn.conf.py")}


def celery_options(command: list[str]) -> dict[str, str]:
    return {flag: value for flag, value in zip(command, command[1:], strict=False) if flag.startswith("-")}


def read_by(name: str) -> list[str]:
    """Which of the two files where Wharf reads its environment name the variable `name`."""
    pattern = re.compile(rf"""["']{re.escape(name)}["']""")
    return [label for label, path in READERS.items() if pattern.search(path.read_text())]


def test_every_image_is_fully_named_with_a_tag_or_is_the_one_make_image_builds() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        if image == WHARF_IMAGE:
            assert f"-t {WHARF_IMAGE}" in (ROOT / "scripts/build-image.sh").read_text()
            continue
        # podman refuses short names unless the host configures a search list.
        assert re.fullmatch(r"[a-z0-9.-]+\.[a-z]+/[a-z0-9./_-]+:[\w.-]+", image), (name, image)


def test_the_web_nodes_run_gunicorn_with_the_repositorys_config_and_application() -> None:
    assert {"web1", "web2"} <= set(WEB)
    for service in WEB.values():
        options = dict(zip(service["command"], service["command"][1:], strict=False))
        assert (ROOT / options["-c"]).is_file()
        module, attribute = service["command"][-1].split(":")
        assert callable(getattr(__import__(module, fromlist=[attribute]), attribute))


def test_every_manage_py_command_exists() -> None:
    commands = [service["command"] for service in WHARF.values() if service["command"][:2] == ["python", "manage.py"]]
    assert commands
    for command in commands:
        assert command[2] in get_commands(), command


def test_celery_services_use_the_portal_app_and_cover_every_queue_once_with_one_beat() -> None:
    import portal.celery

    assert isinstance(portal.celery.app, Celery)
    celery = {name: service["command"] for name, service in WHARF.items() if service["command"][0] == "celery"}
    assert all(celery_options(command)["-A"] == "portal" for command in celery.values())
    assert sorted(command[3] for command in celery.values()).count("beat") == 1
    consumed = [queue for command in celery.values() if command[3] == "worker"
                for queue in celery_options(command)["-Q"].split(",")]
    assert set(consumed) == QUEUES and len(consumed) == len(set(consumed))
    routed = {settings.CELERY_TASK_DEFAULT_QUEUE} | {
        route["queue"] for route in (getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values()}
    for path in (*ROOT.glob("portal/**/tasks.py"), *ROOT.glob("*/tasks.py")):
        routed |= set(re.findall(r"""queue\s*=\s*["'](\w+)["']""", path.read_text()))
    assert routed <= QUEUES


@pytest.mark.parametrize("service", sorted(WHARF))
def test_every_variable_a_wharf_service_sets_is_one_wharf_reads(service: str) -> None:
    # AWS_* go to boto3's credential chain.
    unread = [name for name in WHARF[service]["environment"] if not name.startswith("AWS_") and not read_by(name)]
    assert not unread, f"{service} sets {unread}, which neither settings nor the gunicorn config reads"


def test_the_wharf_containers_share_the_keys_from_the_environment_and_no_volume() -> None:
    for name, service in WHARF.items():
        environment = service["environment"]
        assert environment["SECRET_KEY"].startswith("${SECRET_KEY"), name
        assert environment["WHARF_TOKEN_KEY"].startswith("${WHARF_TOKEN_KEY"), name
        assert environment["DATABASE_URL"].startswith("postgresql://") and environment["REDIS_URL"], name
        assert environment["WHARF_STORAGE_BACKEND"] == "s3", name
        assert "volumes" not in service, f"{name} would share a disk with other nodes"


def test_every_dependency_is_a_service() -> None:
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES and dependency != name, (name, dependency)


def test_the_proxy_config_is_in_the_repository_and_balances_over_the_web_nodes() -> None:
    proxy = SERVICES["proxy"]
    source, target = proxy["volumes"][0].split(":")[:2]
    assert target == "/etc/nginx/nginx.conf"
    config = (ROOT / source).read_text()
    upstreams = set(re.findall(r"^\s*server\s+([\w.-]+:\d+)", config, re.MULTILINE))
    assert upstreams == {f"{name}:{service['environment']['PORT']}" for name, service in WEB.items()}
    assert re.search(r"proxy_pass\s+http://wharf;", config) and "upstream wharf" in config
    assert proxy["ports"] == ["8000:8000"] and re.search(r"listen\s+8000;", config)


def health_paths() -> list[tuple[str, str]]:
    found = []
    for name, service in SERVICES.items():
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        found += [(name, path) for path in re.findall(r"http://127\.0\.0\.1:8000(/[\w/-]*)", test)]
    return found


def test_the_web_nodes_and_the_proxy_have_health_checks() -> None:
    assert {name for name, _ in health_paths()} == {*WEB, "proxy"}
    for name, service in WHARF.items():
        if name not in WEB and service["command"][3:4] == ["worker"]:
            assert "celery -A portal inspect ping" in service["healthcheck"]["test"][1]


@pytest.mark.django_db
@pytest.mark.parametrize(("service", "path"), health_paths())
def test_every_health_check_asks_an_endpoint_that_answers(client, service: str, path: str) -> None:  # type: ignore[no-untyped-def]
    assert client.get(path).status_code == 200, f"{service}'s health check asks {path}"


def test_the_bucket_the_nodes_use_is_the_one_created_at_start() -> None:
    bucket = WHARF["web1"]["environment"]["WHARF_S3_BUCKET"]
    assert f"store/{bucket}" in " ".join(SERVICES["bucket"]["command"])
    assert WHARF["web1"]["environment"]["WHARF_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_the_readme_tells_how_to_run_it() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "## Scaled out" in readme and "docker-compose.yml" in readme
    assert Path(ROOT / "deploy/nginx.conf").is_file()
