#!/usr/bin/env python3
"""What each kind of credential costs at the registry's token endpoint and on the REST API.

Creates an API token and a robot for the bench user through the REST API, then times sequential requests:
`GET /v2/auth` with the password (the first one pays bcrypt; later ones hit the per-process memo), with the
API token and with the robot token, and `GET /api/v1/user/` with the API token as Bearer. Prints median and
p99 in milliseconds (client-side, one connection, loopback). Stdlib only.

  authbench.py --url http://127.0.0.1:18000 --user U --password P [--requests 300]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import time
import urllib.parse


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def call(conn: http.client.HTTPConnection, method: str, path: str, auth: str,
         body: dict | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": auth}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def timed(conn: http.client.HTTPConnection, path: str, auth: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        status, body = call(conn, "GET", path, auth)
        samples.append((time.perf_counter() - start) * 1000)
        assert status == 200, (status, body[:200])
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    password = basic(args.user, args.password)

    status, body = call(conn, "POST", "/api/v1/user/tokens/", password,
                        {"name": f"authbench-{time.time_ns()}", "scopes": ["repo:read", "repo:write"]})
    assert status == 201, body
    token = json.loads(body)["token"]
    robot_name = f"bench{time.time_ns() % 10**9}"
    status, body = call(conn, "POST", f"/api/v1/namespaces/{args.user}/robots/", password, {"name": robot_name})
    assert status == 201, body
    robot = json.loads(body)

    scope = urllib.parse.quote(f"repository:{args.user}/authbench:pull,push")
    token_path = f"/v2/auth?service=wharf&scope={scope}"
    cases = {
        "token endpoint, password (memo warm)": (token_path, password),
        "token endpoint, API token": (token_path, basic(args.user, token)),
        "token endpoint, robot token": (token_path, basic(robot["name"], robot["token"])),
        "REST API GET /user/, Bearer API token": ("/api/v1/user/", f"Bearer {token}"),
    }
    print(f"{'credential':45} {'median ms':>10} {'p99 ms':>8}")
    for label, (path, auth) in cases.items():
        timed(conn, path, auth, 20)   # warm-up: connections, caches, the password memo of this worker
        samples = sorted(timed(conn, path, auth, args.requests))
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(f"{label:45} {statistics.median(samples):10.2f} {p99:8.2f}")


if __name__ == "__main__":
    main()
