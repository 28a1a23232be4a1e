"""Wharf scaled out, on one machine: an S3 API server (moto's), two web nodes with separate DATA_DIRs that share
only the database, Redis and the bucket, and nginx alternating between them."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import ARTIFACTS, ROOT, database_url, free_port, require_tool, wait_for_http

NGINX = "/usr/sbin/nginx"
BUCKET = "wharf-nodes"
AWS = {"AWS_ACCESS_KEY_ID": "nodes", "AWS_SECRET_ACCESS_KEY": "nodes", "AWS_DEFAULT_REGION": "us-east-1"}


def redis_url() -> str:
    # The SQLite pass runs without REDIS_URL (make run's shape), but the scaled-out shape needs a shared broker:
    # the Redis that make test starts serves both passes.
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@dataclass
class Node:
    name: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    access_log: Path

    def requests(self, method: str) -> int:
        """How many `method` requests this node has answered (its gunicorn access log)."""
        return sum(f'"{method} ' in line for line in self.access_log.read_text().splitlines())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL the whole node (the gunicorn arbiter and its workers): a crash, not a stop."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@dataclass
class Cluster:
    s3_url: str
    proxy_port: int
    nodes: list[Node]
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def proxy_host(self) -> str:
        return f"127.0.0.1:{self.proxy_port}"

    def bucket_keys(self, prefix: str = "") -> list[str]:
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.s3_url, region_name="us-east-1",
                          aws_access_key_id="nodes", aws_secret_access_key="nodes")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _token_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _log(name: str) -> object:
    ARTIFACTS.mkdir(exist_ok=True)
    return open(ARTIFACTS / f"nodes-{name}.log", "ab")  # noqa: SIM115


def _start(argv: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    log = _log(name)
    # A session of its own, so that a node is killed whole (arbiter and workers) and nothing outlives the test.
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,  # type: ignore[arg-type]
                            start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)


def _nginx_conf(work: Path, port: int, nodes: list[Node]) -> Path:
    """deploy/nginx.conf as committed, with the compose service names replaced by the nodes' addresses."""
    config = (ROOT / "deploy/nginx.conf").read_text()
    upstreams = re.findall(r"server (web\d+):8000", config)
    assert len(upstreams) == len(nodes), f"deploy/nginx.conf names {upstreams}"
    for name, node in zip(upstreams, nodes, strict=True):
        config = config.replace(f"server {name}:8000", f"server 127.0.0.1:{node.port}")
    config = config.replace("listen 8000;", f"listen 127.0.0.1:{port};")
    temp = work / "nginx"
    temp.mkdir(mode=0o777)
    os.chmod(temp, 0o777)   # nginx's workers may run as nobody
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    paths = "".join(f"    {kind}_temp_path {temp / kind};\n" for kind in kinds)
    config = config.replace("http {\n", f"http {{\n    access_log {work / 'nginx-access.log'};\n{paths}", 1)
    path = work / "nginx.conf"
    path.write_text(f"pid {work / 'nginx.pid'};\nerror_log {work / 'nginx-error.log'};\n{config}")
    return path


@contextmanager
def cluster(work: Path, nodes: int = 2, database: str | None = None,
            settings: dict[str, str] | None = None) -> Iterator[Cluster]:
    """moto, `nodes` web nodes and nginx in front of them, on `database` (the test database by default), with
    `settings` over the test's own; everything is stopped on the way out."""
    require_tool("skopeo")
    if not Path(NGINX).exists():
        require_tool("nginx")   # fails in CI, skips on a laptop without it
    with ExitStack() as stack:
        s3_port = free_port()
        moto = _start([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(s3_port)],
                      {**os.environ, **AWS}, "moto")
        stack.callback(_stop, moto)
        s3_url = f"http://127.0.0.1:{s3_port}"
        wait_for_http(s3_url)
        import boto3

        boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="nodes",
                     aws_secret_access_key="nodes").create_bucket(Bucket=BUCKET)
        proxy_port = free_port()
        shared = {
            **{k: v for k, v in os.environ.items() if k not in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")}, **AWS,
            "DJANGO_SETTINGS_MODULE": "portal.settings", "DATABASE_URL": database or database_url(),
            "REDIS_URL": redis_url(), "DATABASE_CONN_MAX_AGE": "0", "WEB_WORKERS": "2", "WEB_THREADS": "4",
            "WHARF_SITE_URL": f"http://127.0.0.1:{proxy_port}",
            # What every node must share: the secret key and the token-signing key (never DATA_DIR's own).
            "SECRET_KEY": secrets.token_urlsafe(50), "WHARF_TOKEN_KEY": _token_key(),
            "WHARF_STORAGE_BACKEND": "s3", "WHARF_S3_ENDPOINT_URL": s3_url, "WHARF_S3_BUCKET": BUCKET,
            "WHARF_S3_REGION": "us-east-1", "WHARF_S3_ADDRESSING_STYLE": "path", "WHARF_S3_PREFIX": "",
            "WHARF_TRUSTED_PROXIES": "1", **(settings or {}),
        }
        started: list[Node] = []
        for i in range(nodes):
            port, data_dir, access_log = free_port(), work / f"node{i + 1}", work / f"node{i + 1}-access.log"
            data_dir.mkdir()
            access_log.touch()
            env = {**shared, "DATA_DIR": str(data_dir), "PORT": str(port), "WEB_ACCESS_LOG": str(access_log)}
            process = _start([sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py",
                              "portal.wsgi:application"], env, f"node{i + 1}")
            stack.callback(_stop, process)
            started.append(Node(f"node{i + 1}", port, data_dir, process, access_log))
        for node in started:
            wait_for_http(f"{node.url}/v2/")
        conf = _nginx_conf(work, proxy_port, started)
        proxy = _start([NGINX, "-p", str(work), "-e", str(work / "nginx-error.log"), "-c", str(conf),
                        "-g", "daemon off;"], dict(os.environ), "nginx")
        stack.callback(_stop, proxy)
        wait_for_http(f"http://127.0.0.1:{proxy_port}/v2/")
        yield Cluster(s3_url, proxy_port, started, shared, [moto, proxy])
