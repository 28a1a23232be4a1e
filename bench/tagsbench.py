#!/usr/bin/env python3
"""The tags page and the tags API on a repository with 100,000 tags: server time and client time.

For the repository that bench/seed_tags.py made, times sequential GETs on one keep-alive connection of
the tags page (/repository/{ns}/{name}/tags/, signed in with a session as a browser is) and of the tags
API (/api/v1/repositories/{ns}/{name}/tags/, with a Bearer API token): the first page, a page filtered by
a substring that a few hundred tags contain, and the last page. Server time is what the portal reports in
`Server-Timing: app;dur=` (portal/timing.py: the whole Django stack); client time is the wall time of
request and response on loopback. The target (issue 4): each median server time under 150 ms. Prints a
table with PASS/FAIL per line and writes the figures as JSON; exits 1 if any line fails.

  tagsbench.py --url http://127.0.0.1:18000 --user U --password P --seed seed.json [--requests 20]
               [--json bench/results/tagsbench-<time>.json]

Stdlib only, so it runs with any python3; it talks to loopback only.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import http.cookies
import json
import math
import os
import platform
import re
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PER_PAGE = 50   # the tags page's page size, asked of the API as well so that both do the same work
WARM_UP = 3
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
APP_DURATION = re.compile(r"(?:^|,)\s*app;dur=([0-9.]+)")
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
Check = Callable[[int, bytes], str]   # (status, body) -> what is wrong with the response, or ""


class Client:
    """One keep-alive connection that keeps the cookies it is given (enough for Django's session and CSRF)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.hostname not in LOOPBACK:
            sys.exit(f"tagsbench talks to loopback only, not {parts.hostname}")
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in http.cookies.SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, response.headers, data


@dataclass
class Case:
    name: str
    client: Client
    path: str
    headers: dict[str, str]
    check: Check
    server_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def sign_in(client: Client, user: str, password: str) -> None:
    """The login form, as a browser fills it: its CSRF cookie and hidden field, then the session cookie."""
    status, _, body = client.request("GET", "/login/")
    token = CSRF_INPUT.search(body.decode())
    if status != 200 or token is None:
        sys.exit(f"GET /login/ answered {status} without a CSRF field")
    form = urllib.parse.urlencode({"username": user, "password": password, "csrfmiddlewaretoken": token[1]})
    status, _, body = client.request("POST", "/login/", {"Content-Type": "application/x-www-form-urlencoded"},
                                     form.encode())
    if status != 302 or "sessionid" not in client.cookies:
        sys.exit(f"signing in as {user} failed ({status}): {body[:200]!r}")


def api_token(client: Client, user: str, password: str) -> str:
    body = json.dumps({"name": f"tagsbench-{time.time_ns()}", "scopes": ["repo:read"]}).encode()
    status, _, data = client.request("POST", "/api/v1/user/tokens/", {
        "Authorization": basic(user, password), "Content-Type": "application/json"}, body)
    if status != 201:
        sys.exit(f"POST /api/v1/user/tokens/ answered {status}: {data[:200]!r}")
    return str(json.loads(data)["token"])


def page_check(expect: str) -> Check:
    """The page shows the tag the API lists first on the same page (the same order, the same filter)."""
    def check(status: int, body: bytes) -> str:
        if status != 200:
            return f"status {status}"
        return "" if expect in body.decode() else f"{expect!r}, first on the API's page, is not on the page"
    return check


def rows_of(body: bytes) -> list[dict[str, Any]]:
    listed = json.loads(body).get("results")   # the API's pages: {count, next, previous, results}
    return listed if isinstance(listed, list) else []


def api_check(rows: int, needle: str) -> Check:
    """The page holds the number of tags it should and, filtered, only names that contain the filter."""
    def check(status: int, body: bytes) -> str:
        if status != 200:
            return f"status {status}: {body[:200]!r}"
        names = [row.get("name", "") for row in rows_of(body)]
        if len(names) != rows:
            return f"{len(names)} tags instead of {rows}"
        return "" if all(needle in name for name in names) else f"a tag without {needle!r}: {names[:5]}"
    return check


def cases(seed: dict[str, Any], browser: Client, tool: Client, bearer: str) -> list[Case]:
    repository, total, needle, matches = seed["repository"], seed["tags"], seed["filter"], seed["filter_matches"]
    last = math.ceil(total / PER_PAGE)
    page, api = f"/repository/{repository}/tags/", f"/api/v1/repositories/{repository}/tags/?per_page={PER_PAGE}"
    query = urllib.parse.quote(needle)
    auth = {"Authorization": bearer}
    api_cases = [
        Case("API: first page", tool, api, auth, api_check(PER_PAGE, "")),
        Case(f"API: filter {needle!r} ({matches})", tool, f"{api}&filter={query}", auth,
             api_check(min(PER_PAGE, matches), needle)),
        Case(f"API: last page ({last})", tool, f"{api}&page={last}", auth,
             api_check(total - (last - 1) * PER_PAGE, "")),
    ]
    firsts = []
    for case in api_cases:
        status, _, body = tool.request("GET", case.path, auth)
        if problem := case.check(status, body):
            sys.exit(f"{case.name}: GET {case.path}: {problem}")
        firsts.append(rows_of(body)[0]["name"])
    return [
        Case("page: first page", browser, page, {}, page_check(firsts[0])),
        Case(f"page: filter {needle!r} ({matches})", browser, f"{page}?filter={query}", {}, page_check(firsts[1])),
        Case(f"page: last page ({last})", browser, f"{page}?page={last}", {}, page_check(firsts[2])),
        *api_cases,
    ]


def measure(case: Case, requests: int) -> None:
    for i in range(WARM_UP + requests):
        start = time.perf_counter()
        status, headers, body = case.client.request("GET", case.path, case.headers)
        elapsed = (time.perf_counter() - start) * 1000
        problem = case.check(status, body)
        if problem:
            sys.exit(f"{case.name}: GET {case.path}: {problem}")
        timing = APP_DURATION.search(headers.get("Server-Timing", ""))
        if timing is None:
            sys.exit(f"{case.name}: no Server-Timing app;dur= in the response (portal.timing missing?)")
        if i >= WARM_UP:
            case.server_ms.append(float(timing[1]))
            case.client_ms.append(elapsed)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summary(case: Case, target_ms: float) -> dict[str, Any]:
    server = statistics.median(case.server_ms)
    return {"name": case.name, "path": case.path, "requests": len(case.server_ms),
            "server_ms": {"median": round(server, 2), "p95": round(p95(case.server_ms), 2)},
            "client_ms": {"median": round(statistics.median(case.client_ms), 2), "p95": round(p95(case.client_ms), 2)},
            "pass": server < target_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--seed", required=True, help="the JSON that seed_tags.py wrote")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--target-ms", type=float, default=150.0)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--only", choices=["page", "api"], help="measure only the page or only the API")
    args = parser.parse_args()
    with open(args.seed) as f:
        seed = json.load(f)
    # A browser with its session cookie for the page; a tool with an API token, on a connection of its own.
    browser, tool = Client(args.url), Client(args.url)
    sign_in(browser, args.user, args.password)
    bearer = f"Bearer {api_token(tool, args.user, args.password)}"
    load_before = os.getloadavg()
    results = []
    print(f"{seed['repository']}: {seed['tags']:,} tags, {args.requests} requests per line (after {WARM_UP} warm-up)")
    print(f"{'case':32} {'server ms median':>16} {'p95':>7} {'client ms median':>17} {'p95':>7}  target")
    for case in cases(seed, browser, tool, bearer):
        if args.only and not case.name.lower().startswith(args.only):
            continue
        measure(case, args.requests)
        result = summary(case, args.target_ms)
        results.append(result)
        server, wall = result["server_ms"], result["client_ms"]
        verdict = "PASS" if result["pass"] else "FAIL"
        print(f"{case.name:32} {server['median']:16.1f} {server['p95']:7.1f} {wall['median']:17.1f} "
              f"{wall['p95']:7.1f}  {verdict} (median < {args.target_ms:g} ms)")
    if args.json:
        meta = {"tool": "tagsbench", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "url": args.url,
                "host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "target_ms": args.target_ms,
                "per_page": PER_PAGE, "seed": seed}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "cases": results}, f, indent=2)
    if not all(result["pass"] for result in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
