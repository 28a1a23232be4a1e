#!/usr/bin/env python3
"""Normal requests while other clients hold connections open and send nothing, or a byte a second.

Times `GET /v2/` (401, each on a new connection, as a new client's first request) alone, then with --idle
connections open that send nothing, then with --trickle more that send a request's headers one byte a second
(slowloris). A keeper thread reopens every connection the server closes, so the numbers stay under the whole
load however the server ends slow clients. Each phase stops after --requests requests or --seconds; a request
that fails or takes longer than --timeout counts as --timeout. Prints p50 and p99 in milliseconds (client
side, loopback). Stdlib only.

  idlebench.py --url http://127.0.0.1:18000 [--idle 2000] [--trickle 100] [--requests 300]
"""

from __future__ import annotations

import argparse
import http.client
import resource
import selectors
import socket
import statistics
import threading
import time
import urllib.parse

TRICKLE = b"GET /v2/ HTTP/1.1\r\nHost: idlebench\r\n" + b"X-Slow: " + b"a" * 4000


class Crowd:
    """Connections that never finish a request; the ones the server closes are opened again."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.selector = selectors.DefaultSelector()
        self.wanted = {"idle": 0, "trickle": 0}
        self.open = {"idle": 0, "trickle": 0}
        self.reopened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def connect(self, kind: str) -> None:
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(self.address)
        self.selector.register(sock, selectors.EVENT_READ, [kind, 0])
        self.open[kind] += 1

    def drop(self, sock: socket.socket, kind: str) -> None:
        self.selector.unregister(sock)
        sock.close()
        self.open[kind] -= 1

    def run(self) -> None:
        next_byte = time.monotonic()
        while not self.stop.is_set():
            for kind, count in self.wanted.items():
                for _ in range(min(count - self.open[kind], 200)):   # at most 200 per turn: no connect storm
                    self.connect(kind)
            for key, _ in self.selector.select(timeout=0.05):
                sock, (kind, _sent) = key.fileobj, key.data
                try:
                    data = sock.recv(4096)    # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:                  # the server closed it (or refused): a slow client comes back
                    self.drop(sock, kind)     # type: ignore[arg-type]
                    self.reopened += 1
            if time.monotonic() >= next_byte:
                next_byte += 1.0
                for key in list(self.selector.get_map().values()):
                    if key.data[0] == "trickle" and key.data[1] < len(TRICKLE):
                        try:
                            key.fileobj.send(TRICKLE[key.data[1]:key.data[1] + 1])   # type: ignore[union-attr]
                            key.data[1] += 1
                        except OSError:
                            pass
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()   # type: ignore[union-attr]

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def measure(host: str, port: int, requests: int, seconds: float, timeout: float) -> tuple[list[float], int]:
    samples, failed = [], 0
    end = time.monotonic() + seconds
    while len(samples) < requests and time.monotonic() < end:
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
            conn.request("GET", "/v2/")
            response = conn.getresponse()
            response.read()
            conn.close()
            ok = response.status == 401
        except OSError:
            ok = False
        elapsed = (time.perf_counter() - start) * 1000
        if not ok:
            failed += 1
            elapsed = max(elapsed, timeout * 1000)
        samples.append(elapsed)
    return samples, failed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--trickle", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=30.0, help="cap on each phase")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between opening and measuring")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.idle + args.trickle + 256
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))

    crowd = Crowd((host, port))
    phases = [("alone", 0, 0), (f"with {args.idle} idle connections", args.idle, 0),
              (f"with {args.idle} idle + {args.trickle} trickling", args.idle, args.trickle)]
    print(f"{'GET /v2/ on a new connection':45} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} {'reopened':>9}")
    try:
        measure(host, port, 20, args.seconds, args.timeout)   # warm-up
        for label, idle, trickle in phases:
            crowd.wanted = {"idle": idle, "trickle": trickle}
            time.sleep(args.settle if idle or trickle else 0)
            before = crowd.reopened
            samples, failed = measure(host, port, args.requests, args.seconds, args.timeout)
            samples.sort()
            p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
            print(f"{label:45} {len(samples):5} {statistics.median(samples):8.2f} {p99:8.2f} {failed:7}"
                  f" {crowd.reopened - before:9}", flush=True)
    finally:
        crowd.close()


if __name__ == "__main__":
    main()
