#!/usr/bin/env python3
"""Push and pull one large blob through Wharf while sampling the web workers' resident memory.

Bytes must stream: a worker that held a blob in memory would grow by its size. Prints the peak RSS of
each server process during the push and the pull. Loopback only; stdlib only.

  memprobe.py --url http://127.0.0.1:18000 --user U --password P --pids 123,124 [--mib 1024]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import threading
import time
import urllib.parse
import urllib.request

MiB = 1 << 20


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak, self.stop = pids, {p: 0.0 for p in pids}, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss_mib(pid))
            time.sleep(0.05)


def token(url: str, user: str, password: str, repo: str) -> str:
    query = urllib.parse.urlencode({"service": "wharf", "scope": f"repository:{repo}:pull,push"})
    request = urllib.request.Request(f"{url}/v2/auth?{query}")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


def push(conn: http.client.HTTPConnection, auth: dict[str, str], repo: str, size: int) -> str:
    conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers=auth)
    response = conn.getresponse()
    response.read()
    assert response.status == 202, response.status
    location = response.getheader("Location")
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    for _ in range(size // MiB):
        digest.update(block)
    ref = f"sha256:{digest.hexdigest()}"
    conn.putrequest("PUT", f"{location}?digest={ref}")
    for key, value in {**auth, "Content-Length": str(size), "Content-Type": "application/octet-stream"}.items():
        conn.putheader(key, value)
    conn.endheaders()
    for _ in range(size // MiB):
        conn.send(block)
    response = conn.getresponse()
    response.read()
    assert response.status == 201, response.status
    return ref


def pull(conn: http.client.HTTPConnection, auth: dict[str, str], repo: str, ref: str, size: int) -> None:
    conn.request("GET", f"/v2/{repo}/blobs/{ref}", headers=auth)
    response = conn.getresponse()
    assert response.status == 200, response.status
    received = 0
    while chunk := response.read(MiB):
        received += len(chunk)
    assert received == size, received


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--pids", required=True)
    parser.add_argument("--mib", type=int, default=1024)
    args = parser.parse_args()
    parsed = urllib.parse.urlsplit(args.url)
    assert parsed.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
    pids = [int(p) for p in args.pids.split(",") if p]
    repo = f"{args.user}/memprobe"
    auth = {"Authorization": f"Bearer {token(args.url, args.user, args.password, repo)}"}
    size = args.mib * MiB
    baseline = {pid: rss_mib(pid) for pid in pids}
    for phase in ("push", "pull"):
        sampler = Sampler(pids)
        sampler.start()
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
        started = time.monotonic()
        if phase == "push":
            ref = push(conn, auth, repo, size)
        else:
            pull(conn, auth, repo, ref, size)
        elapsed = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
        peak = max(sampler.peak.values())
        print(f"memprobe {phase}: {args.mib} MiB in {elapsed:.2f} s ({args.mib / elapsed:.0f} MiB/s); "
              f"peak worker RSS {peak:.0f} MiB (before: {max(baseline.values()):.0f} MiB)")


if __name__ == "__main__":
    main()
