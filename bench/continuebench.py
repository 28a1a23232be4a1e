#!/usr/bin/env python3
"""What continuing a chunked upload on another web node costs, against finishing it where it began.

Starts two Wharf nodes (gunicorn, one worker each, separate DATA_DIRs) that share only the database, the
blob store (a filesystem directory here) and the keys, as scaled-out nodes do. A node keeps the sha256 state
of the uploads it is receiving in its process (registry_api/hashing.py); a session whose bytes it did not all
see is verified at finish by reading them back from storage. For a blob of --mib MiB sent in --chunk-mib
chunks, three ways, --repeat times each, fresh bytes every time:

  same       every PATCH and the final PUT on node A
  finish-b   the PATCHes on A, the final PUT on B (B re-reads the blob)
  alternate  the PATCHes alternate A, B, A, … and the PUT goes to B (a round-robin proxy's worst case)

Prints the median of the final PUT and of the whole upload, in ms. Run from the repository root with the
venv's Python; with DATABASE_URL it makes (and then drops) a PostgreSQL database of its own on that server,
otherwise a SQLite file in a temporary directory.

  .venv/bin/python bench/continuebench.py [--mib 256] [--chunk-mib 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "bench/nodes"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def own_database(url: str) -> tuple[str, str]:
    """A database of this run's own beside the one `url` names (nothing of the bench lands in it); returns
    (its URL, its name)."""
    import psycopg

    name = f"wharf_continuebench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urllib.parse.urlsplit(url)._replace(path=f"/{name}").geturl(), name


def drop_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def shared_env(work: Path, database: str) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    env = {k: v for k, v in os.environ.items() if k not in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "REDIS_URL")}
    env.update({"DATABASE_URL": database,
                "WHARF_STORAGE_PATH": str(work / "storage"), "WHARF_TOKEN_KEY": key,
                "SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_SETTINGS_MODULE": "portal.settings",
                "WEB_WORKERS": "1", "WEB_THREADS": "4", "CELERY_BROKER_URL": "memory://"})
    return env


def start_node(env: dict[str, str], work: Path, name: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    node_env = {**env, "DATA_DIR": str(work / name), "PORT": str(port), "WHARF_SITE_URL": f"http://127.0.0.1:{port}"}
    log = open(work / f"{name}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py",
                                "portal.wsgi:application"], cwd=ROOT, env=node_env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/v2/")
            return process, port
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"node {name} did not start: see {work / name}.log")


def token(port: int, user: str, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    query = urllib.parse.urlencode({"service": "wharf", "scope": f"repository:{REPOSITORY}:pull,push"})
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    conn.request("GET", f"/v2/auth?{query}", headers={"Authorization": f"Basic {basic}"})
    response = conn.getresponse()
    assert response.status == 200, response.read()
    return str(json.loads(response.read())["token"])


def upload(nodes: list[http.client.HTTPConnection], order: str, data: bytes, chunk: int,
           auth: str) -> tuple[float, float]:
    """One chunked upload; returns (ms of the final PUT, ms of the whole upload)."""
    a, b = nodes
    headers = {"Authorization": auth}
    started = time.perf_counter()
    a.request("POST", f"/v2/{REPOSITORY}/blobs/uploads/", headers={**headers, "Content-Length": "0"})
    response = a.getresponse()
    response.read()
    assert response.status == 202, response.status
    location = response.headers["Location"]
    for index, offset in enumerate(range(0, len(data), chunk)):
        part = data[offset:offset + chunk]
        conn = b if order == "alternate" and index % 2 else a
        conn.request("PATCH", location, body=part, headers={
            **headers, "Content-Type": "application/octet-stream", "Content-Length": str(len(part)),
            "Content-Range": f"{offset}-{offset + len(part) - 1}"})
        response = conn.getresponse()
        response.read()
        assert response.status == 202, (response.status, response.headers)
        location = response.headers["Location"]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    finisher = a if order == "same" else b
    separator = "&" if "?" in location else "?"
    finish_started = time.perf_counter()
    finisher.request("PUT", f"{location}{separator}digest={digest}", headers={**headers, "Content-Length": "0"})
    response = finisher.getresponse()
    response.read()
    assert response.status == 201, (response.status, response.headers)
    done = time.perf_counter()
    return (done - finish_started) * 1000, (done - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--chunk-mib", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wharf-continuebench-"))
    server = os.environ.get("DATABASE_URL", "")
    database, name = own_database(server) if server else (f"sqlite:///{work / 'wharf.sqlite3'}", "")
    env = shared_env(work, database)
    password = secrets.token_urlsafe(12)
    processes = []
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT,
                       env={**env, "DATA_DIR": str(work / "setup")}, check=True)
        subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "bench",
                        "--email", "bench@example.com"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       env={**env, "DATA_DIR": str(work / "setup"), "DJANGO_SUPERUSER_PASSWORD": password})
        (node_a, port_a), (node_b, port_b) = start_node(env, work, "a"), start_node(env, work, "b")
        processes = [node_a, node_b]
        auth = f"Bearer {token(port_a, 'bench', password)}"   # signed on A, accepted by B: one shared key
        nodes = [http.client.HTTPConnection("127.0.0.1", port, timeout=600) for port in (port_a, port_b)]
        data = bytearray(os.urandom(args.mib << 20))
        results: dict[str, list[tuple[float, float]]] = {"same": [], "finish-b": [], "alternate": []}
        for _ in range(args.repeat):
            for order, samples in results.items():
                data[:16] = os.urandom(16)   # a new blob each time: nothing is deduplicated
                samples.append(upload(nodes, order, bytes(data), args.chunk_mib << 20, auth))
        print(f"{args.mib} MiB in {args.chunk_mib} MiB chunks, filesystem storage, "
              f"{os.environ.get('DATABASE_URL', 'sqlite').split(':')[0]}, median of {args.repeat}:")
        for order, samples in results.items():
            finish = statistics.median(s[0] for s in samples)
            total = statistics.median(s[1] for s in samples)
            print(f"  {order:<10} final PUT {finish:8.0f} ms   whole upload {total:8.0f} ms")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        if name:
            drop_database(server, name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
