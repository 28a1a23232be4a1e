#!/usr/bin/env python3
"""Notifications: what they cost a push, and how fast deliveries go out.

1. Push latency: `--pushes` manifest PUTs (each a new tag, so each is a repo_push) through Django's test client,
   alternating between a repository with no notifications and one with 10 webhook notifications on repo_push;
   p50/p99 of each. The notified push writes its 10 Delivery rows and hands 10 messages to the broker (the
   embedded filesystem broker in DATA_DIR: nothing consumes them here), after its commit, in the request.
2. Delivery: `--events` repo_push events on one webhook notification whose receiver is a local HTTP server,
   emitted as fast as the producer can (delivery.fan_out, each in its own transaction); the broker is replaced
   by an in-process queue and `--consumers` threads call the Celery task function (notifications.tasks.deliver)
   for each id, as a worker would. Deliveries per second (first event to last receipt) and the delay from the
   event's Delivery row to the receiver's receipt (p50/p99).

It writes into the database of its environment, so point it at a scratch one (scripts/bench.sh does):

  DATABASE_URL=postgresql://…/scratch DATA_DIR=$(mktemp -d) .venv/bin/python bench/notifybench.py
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ["WHARF_NOTIFY_ALLOW_PRIVATE"] = "1"   # the receiver is on loopback
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import close_old_connections, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from notifications import delivery, events, services, tasks  # noqa: E402
from notifications.models import Delivery, Notification  # noqa: E402
from portal.access import Principal  # noqa: E402
from portal.accounts.models import Namespace, User  # noqa: E402
from portal.repositories.models import Repository  # noqa: E402
from registry_api import tokens  # noqa: E402
from tests.registry_api.tagged import image  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Receiver:
    """A local webhook receiver answering 200 and noting when each delivery arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:   # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.arrived[self.headers["X-Wharf-Delivery"]] = time.time()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def setup() -> tuple[User, Repository, Repository]:
    user, _ = User.objects.get_or_create(username="notifybench")
    namespace, _ = Namespace.objects.get_or_create(name="notifybench", defaults={"user": user})
    quiet, _ = Repository.objects.get_or_create(namespace=namespace, name="quiet", full_name="notifybench/quiet")
    loud, _ = Repository.objects.get_or_create(namespace=namespace, name="loud", full_name="notifybench/loud")
    return user, quiet, loud


def push_latency(user: User, quiet: Repository, loud: Repository, pushes: int, hook: str) -> dict[str, Any]:
    if os.environ.get("NOTIFYBENCH_NO_BROKER"):   # to see what the broker's part is: the rows only
        delivery.send = lambda ids: None   # type: ignore[assignment]
    principal = Principal.for_user(user)
    for _ in range(10):
        services.create_notification(loud, principal, event=events.REPO_PUSH, method="webhook", target=hook)
    client = Client()
    blobs, body = image("notifybench")
    headers: dict[str, str] = {}
    for repo in (quiet, loud):
        token, _ = tokens.issue(user.username, [{"type": "repository", "name": repo.full_name,
                                                 "actions": ["pull", "push"]}], f"user:{user.pk}")
        headers[repo.full_name] = f"Bearer {token}"
        for blob in blobs:
            from tests.factories import sha256

            answer = client.post(f"/v2/{repo.full_name}/blobs/uploads/?digest={sha256(blob)}", blob,
                                 content_type="application/octet-stream", HTTP_AUTHORIZATION=headers[repo.full_name])
            assert answer.status_code == 201, answer.content
    times: dict[str, list[float]] = {quiet.full_name: [], loud.full_name: []}
    for i in range(pushes * 2 + 20):          # 10 warm-up pushes each, then alternate
        repo = (quiet, loud)[i % 2]
        started = time.perf_counter()
        answer = client.put(f"/v2/{repo.full_name}/manifests/t{i}", body, content_type=OCI_MANIFEST,
                            HTTP_AUTHORIZATION=headers[repo.full_name])
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code == 201, answer.content
        if i >= 20:
            times[repo.full_name].append(elapsed)
    made = Delivery.objects.filter(notification__repository=loud).count()
    result = {}
    for label, repo in (("no notifications", quiet), ("10 notifications", loud)):
        values = times[repo.full_name]
        result[label] = {"n": len(values), "p50_ms": round(statistics.median(values), 2),
                         "p99_ms": round(pct(values, 99), 2), "mean_ms": round(statistics.fmean(values), 2)}
    result["deliveries_written"] = made
    return result


def delivery_rate(repo: Repository, user: User, count: int, consumers: int, receiver: Receiver) -> dict[str, Any]:
    Notification.objects.filter(repository=repo).delete()
    services.create_notification(repo, Principal.for_user(user), event=events.REPO_PUSH, method="webhook",
                                 target=receiver.url)
    work: queue.Queue[int | None] = queue.Queue()
    delivery.send = lambda ids: [work.put(i) for i in ids]   # type: ignore[assignment,func-returns-value]

    def consume() -> None:
        while (item := work.get()) is not None:
            tasks.deliver(item)
        close_old_connections()

    threads = [threading.Thread(target=consume) for _ in range(consumers)]
    for thread in threads:
        thread.start()
    started = time.time()
    for i in range(count):
        with transaction.atomic():
            delivery.fan_out(events.RepoPush(repository=repo.full_name, occurred_at=timezone.now(), tags=[f"e{i}"],
                                             digest="sha256:" + "0" * 64), repo.pk)
    emitted = time.time() - started
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join()
    rows = list(Delivery.objects.filter(notification__repository=repo).values_list("delivery_id", "created_at",
                                                                                  "status"))
    delays = [(receiver.arrived[str(d)] - created.timestamp()) * 1000 for d, created, _ in rows
              if str(d) in receiver.arrived]
    last = max(receiver.arrived.values())
    return {"events": count, "consumers": consumers, "delivered": len(delays),
            "succeeded": sum(1 for *_, s in rows if s == "succeeded"),
            "emit_seconds": round(emitted, 2), "deliveries_per_second": round(len(delays) / (last - started), 1),
            "delay_p50_ms": round(pct(delays, 50), 1), "delay_p99_ms": round(pct(delays, 99), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=200, help="manifest PUTs per repository")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--consumers", type=int, default=4, help="threads calling the delivery task")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    receiver = Receiver()
    user, quiet, loud = setup()
    push = push_latency(user, quiet, loud, args.pushes, receiver.url)
    rate = delivery_rate(loud, user, args.events, args.consumers, receiver)
    from django.db import connection

    results = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "database": connection.vendor,
               "push": push, "delivery": rate}
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
