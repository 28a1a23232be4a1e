"""Wharf scaled out, on one machine: an S3 API server (moto's), two web nodes with separate DATA_DIRs that share
only the database, Redis and the bucket, and nginx alternating between them."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
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


def _wait_port(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def _nginx_conf(work: Path, port: int, upstreams: list[int]) -> Path:
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in upstreams)
    conf = work / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  client_max_body_size 0;
  proxy_request_buffering off;
  proxy_buffering off;
  proxy_http_version 1.1;
  upstream wharf {{
{servers}    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://wharf;
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_502;
    }}
  }}
}}
""")
    return conf


@contextmanager
def cluster(work: Path, nodes: int = 2, database: str | None = None) -> Iterator[Cluster]:
    """moto, `nodes` web nodes and nginx in front of them, on `database` (the test database by default);
    everything is stopped on the way out."""
    require_tool("skopeo")
    if not Path(NGINX).exists():
        require_tool("nginx")   # fails in CI, skips on a laptop without it
    with ExitStack() as stack:
        s3_port = free_port()
        moto = _start([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(s3_port)],
                      {**os.environ, **AWS}, "moto")
        stack.callback(_stop, moto)
        s3_url = f"http://127.0.0.1:{s3_port}"
        _wait_port(s3_url)
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
        }
        started: list[Node] = []
        for i in range(nodes):
            port, data_dir = free_port(), work / f"node{i + 1}"
            data_dir.mkdir()
            env = {**shared, "DATA_DIR": str(data_dir), "PORT": str(port)}
            process = _start([sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py",
                              "portal.wsgi:application"], env, f"node{i + 1}")
            stack.callback(_stop, process)
            started.append(Node(f"node{i + 1}", port, data_dir, process))
        for node in started:
            wait_for_http(f"{node.url}/v2/")
        conf = _nginx_conf(work, proxy_port, [node.port for node in started])
        proxy = _start([NGINX, "-c", str(conf), "-p", str(work)], dict(os.environ), "nginx")
        stack.callback(_stop, proxy)
        _wait_port(f"http://127.0.0.1:{proxy_port}/v2/")
        yield Cluster(s3_url, proxy_port, started, shared, [moto, proxy])
