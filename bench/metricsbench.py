#!/usr/bin/env python3
"""What /metrics costs the registry's hot path: manifest GETs by tag, one keep-alive connection, sequential.

Pushes a tiny image to <user>/metricsbench on each server, then alternates rounds of GETs between them (so that
both see the same machine load) and prints the median and p90 client time per server. Run it against a Wharf
with the metrics and one without (e.g. the commit before them) started the same way.

  metricsbench.py --user U --password P --url http://127.0.0.1:18100 [--url http://127.0.0.1:18101 ...]
                  [--requests 2000] [--rounds 5]

Stdlib only; loopback only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import statistics
import time
import urllib.parse

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    def __init__(self, url: str, user: str, password: str) -> None:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
        self.name = f"{user}/metricsbench"
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        status, body = self.call("GET", f"/v2/auth?service=wharf&scope=repository:{self.name}:pull,push",
                                 {"Authorization": f"Basic {basic}"})
        assert status == 200, body
        self.auth = {"Authorization": f"Bearer {json.loads(body)['token']}"}

    def call(self, method: str, path: str, headers: dict[str, str] | None = None,
             body: bytes | None = None) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        return response.status, response.read()

    def push(self) -> None:
        config, layer = b"{}", b"metricsbench layer"
        for blob in (config, layer):
            status, body = self.call("POST", f"/v2/{self.name}/blobs/uploads/?digest={sha256(blob)}",
                                     {**self.auth, "Content-Type": "application/octet-stream"}, blob)
            assert status == 201, body
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer),
                        "size": len(layer)}]}).encode()
        status, body = self.call("PUT", f"/v2/{self.name}/manifests/latest", {**self.auth, "Content-Type": MANIFEST},
                                 manifest)
        assert status == 201, body

    def get_times(self, count: int) -> list[float]:
        path, headers = f"/v2/{self.name}/manifests/latest", {**self.auth, "Accept": MANIFEST}
        times = []
        for _ in range(count):
            start = time.perf_counter()
            status, _ = self.call("GET", path, headers)
            times.append(time.perf_counter() - start)
            assert status == 200
        return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    registries = [Registry(url, args.user, args.password) for url in args.url]
    for registry in registries:
        registry.push()
        registry.get_times(200)   # warm up
    times: dict[str, list[float]] = {url: [] for url in args.url}
    for _ in range(args.rounds):
        for url, registry in zip(args.url, registries, strict=True):
            times[url] += registry.get_times(args.requests // args.rounds)
    for url, values in times.items():
        values.sort()
        print(f"{url}: manifest GET p50 {statistics.median(values) * 1e6:.0f} µs, "
              f"p90 {values[int(len(values) * 0.9)] * 1e6:.0f} µs, n={len(values)}")


if __name__ == "__main__":
    main()
