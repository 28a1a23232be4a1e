"""POST /webhooks/git/<trigger id>/: a push from GitHub (or any git host that signs as GitHub does) queues a build.

The signature (X-Hub-Signature-256: HMAC-SHA256 of the raw body with the trigger's secret) is checked in
constant time before anything of the body is parsed. The answer never waits on GitHub or git: it records the
delivery, writes the build row and puts it on the queue, and says what it did, so GitHub's delivery page shows
why a push built nothing (2xx with the reason for pings, other events, filtered refs, skip markers and
redeliveries; 503 when the queue is down, so the delivery shows as failed and can be redelivered)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from builds import secrets, services
from builds.models import Delivery, SourceKind, Trigger
from builds.templates import split_ref
from portal.client_address import client_ip
from portal.db import write_transaction
from portal.errors import Conflict, Invalid

log = logging.getLogger(__name__)

MAX_BODY = 25 * 1024 * 1024   # GitHub's own cap on a delivery's payload
SKIP_MARKERS = ("[skip build]", "[ci skip]", "[build skip]", "[skip ci]")
_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_NULL_SHA = re.compile(r"0+")


def _answer(status: int, outcome: str, trigger: Trigger | None = None, *, delivery: str = "", event: str = "",
            ref: str = "", sha: str = "", build_id: int | None = None) -> JsonResponse:
    if trigger is not None:
        with write_transaction():
            Delivery.objects.create(trigger=trigger, delivery_id=delivery[:100], event=event[:50], ref=ref[:300],
                                    commit_sha=sha[:64], status_code=status, outcome=outcome[:300],
                                    build_id=build_id)
    body: dict[str, Any] = {"outcome": outcome}
    if build_id is not None:
        body["build"] = build_id
    return JsonResponse(body, status=status)


def _read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is over MAX_BODY (read no further than that)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY:
        return None
    chunks, size = [], 0
    while chunk := request.read(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def _payload(request: HttpRequest, body: bytes) -> dict[str, Any]:
    """The push payload: JSON, or GitHub's form encoding (payload=<json>)."""
    text = body.decode("utf-8")
    if request.content_type == "application/x-www-form-urlencoded":
        text = (parse_qs(text).get("payload") or [""])[0]
    payload = json.loads(text)
    if not isinstance(payload, dict):
        raise ValueError("the payload is not a JSON object")
    return payload


@csrf_exempt
def receive(request: HttpRequest, trigger_id: int) -> JsonResponse:
    if request.method != "POST":
        response = JsonResponse({"outcome": "Webhooks are delivered with POST."}, status=405)
        response["Allow"] = "POST"
        return response
    trigger = Trigger.objects.select_related("repository").filter(pk=trigger_id).first()
    if trigger is None:
        return JsonResponse({"outcome": "No such trigger."}, status=404)
    body = _read_body(request)
    if body is None:
        return _answer(413, "The payload is over 25 MB.", trigger)
    header = request.META.get("HTTP_X_HUB_SIGNATURE_256", "")
    if not header:
        reason = ("Only X-Hub-Signature-256 (HMAC-SHA256) signatures are accepted."
                  if request.META.get("HTTP_X_HUB_SIGNATURE") else "The delivery is not signed "
                  "(X-Hub-Signature-256 is missing).")
        return _answer(401, reason, trigger)
    try:
        secret = secrets.decrypt(trigger.secret_encrypted)
    except ValueError:
        log.error("trigger %s: its secret does not decrypt (SECRET_KEY changed?)", trigger.pk)
        return _answer(500, "This trigger's secret cannot be read on this server; create the trigger again.",
                       trigger)
    if not signature_matches(secret, body, header):
        return _answer(401, "The signature does not match this trigger's secret.", trigger)

    delivery = request.META.get("HTTP_X_GITHUB_DELIVERY", "")[:100]
    event = (request.META.get("HTTP_X_GITHUB_EVENT") or request.META.get("HTTP_X_GITEA_EVENT")
             or request.META.get("HTTP_X_GOGS_EVENT") or "push")[:50]
    if event == "ping":
        return _answer(200, "pong: the trigger is set up.", trigger, delivery=delivery, event=event)
    if event != "push":
        return _answer(202, f"Ignored: only push events build (this was '{event}').", trigger,
                       delivery=delivery, event=event)
    try:
        payload = _payload(request, body)
    except (ValueError, UnicodeDecodeError):
        return _answer(400, "The payload is not JSON.", trigger, delivery=delivery, event=event)
    ref, sha = payload.get("ref"), payload.get("after")
    if not isinstance(ref, str) or not isinstance(sha, str):
        return _answer(400, "The payload names no ref and commit ('ref' and 'after').", trigger,
                       delivery=delivery, event=event)
    seen = dict(trigger=trigger, delivery=delivery, event=event, ref=ref, sha=sha)
    if _NULL_SHA.fullmatch(sha) or payload.get("deleted") is True:
        return _answer(202, f"Ignored: {ref} was deleted.", **seen)
    if not _SHA_RE.fullmatch(sha):
        return _answer(400, "'after' is not a commit id.", **seen)
    if not trigger.enabled:
        return _answer(409, "The trigger is disabled" + (f": {trigger.disabled_reason}"
                                                         if trigger.disabled_reason else "."), **seen)
    if split_ref(ref)[0] == "":
        return _answer(202, f"Ignored: {ref} is neither a branch nor a tag.", **seen)
    if trigger.ref_filter and re.search(trigger.ref_filter, ref) is None:
        return _answer(202, f"Ignored: {ref} does not match the filter {trigger.ref_filter}.", **seen)
    head: dict[str, Any] = payload["head_commit"] if isinstance(payload.get("head_commit"), dict) else {}
    message = str(head.get("message") or "")
    if any(marker in message.lower() for marker in SKIP_MARKERS):
        return _answer(202, "Skipped: the head commit asks not to build.", **seen)
    if delivery and Delivery.objects.filter(trigger=trigger, delivery_id=delivery, build__isnull=False).exists():
        return _answer(200, "Already delivered: this delivery queued its build before.", **seen)
    author: dict[str, Any] = head["author"] if isinstance(head.get("author"), dict) else {}
    source = services.Source(kind=SourceKind.GIT, trigger=trigger, commit_sha=sha, ref=ref,
                             commit_message=message, commit_author=str(author.get("name") or ""),
                             delivery_id=delivery or f"unnamed-{sha}")
    try:
        build = services.queue_build(trigger.repository, None, source, client_ip=client_ip(request))
    except Conflict:
        return _answer(200, f"Already built: commit {sha[:7]} was built for this trigger.", **seen)
    except services.QueueFull as exc:
        response = _answer(429, exc.message, **seen)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except services.BrokerUnavailable as exc:
        return _answer(503, exc.message, **seen)
    except Invalid as exc:
        return _answer(202, f"Not built: {exc.message}", **seen)
    return _answer(201, f"Build {build.pk} queued.", build_id=build.pk, **seen)
