"""The security policy against a live Wharf with skopeo: a reader's pull of an image with a critical finding is
DENIED with the policy's message in skopeo's own error output, the repository's admin still pulls, and once the
policy is removed the reader pulls again. (The scan summary is written here: the scanner is tested on its own.)

The live server's workers cache policies for WHARF_SCAN_POLICY_CACHE_SECONDS (5 s): a change made by this
process reaches them within that window, which the test waits out after each change."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from portal.access import Principal
from portal.accounts.models import User
from portal.repositories import scan_policy
from registry_api.models import Manifest
from scanning.models import ScanStatus, ScanSummary
from tests.clients.conftest import CREDS, Clients, build_image, to_oci_layout
from tests.conftest import LiveServer, require_tool
from tests.factories import PASSWORD, grant, make_organization, make_repository, make_user

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]
MESSAGE = ("denied by the security policy of acme: the image has findings of severity Critical or above "
           "(1 critical); an admin can pull it or change the policy")


def inspect(clients: Clients, registry: LiveServer, creds: str) -> subprocess.CompletedProcess[str]:
    return clients.skopeo("inspect", "--raw", "--creds", creds, "--tls-verify=false",
                          f"docker://{registry.host}/acme/app:1", check=False)


def after_the_cache_window(changed_at: float) -> None:
    """Every worker of the live server has let go of the policy it cached before `changed_at`."""
    time.sleep(max(0.0, changed_at + settings.WHARF_SCAN_POLICY_CACHE_SECONDS + 0.5 - time.monotonic()))


def test_skopeo_is_denied_with_the_policy_message_admins_still_pull_and_off_again_it_pulls(
    clients: Clients, registry: LiveServer, tmp_path: Path,
) -> None:
    require_tool("podman", "skopeo")
    owner = User.objects.get(username="alice")   # committed by the `registry` fixture
    organization = make_organization("acme", owner)
    repository = make_repository("acme/app")
    grant(repository, "read", user=make_user("bob"))
    alice = Principal.for_user(owner)
    build_image(clients, "localhost/policy-app:1", tmp_path / "context", layers=1)
    to_oci_layout(clients, "localhost/policy-app:1", tmp_path / "layout", "1")
    clients.skopeo("copy", "--quiet", "--dest-creds", CREDS, "--dest-tls-verify=false",
                   f"oci:{tmp_path / 'layout'}:1", f"docker://{registry.host}/acme/app:1")
    manifest = Manifest.objects.get(repository=repository, tags__name="1")
    # The push queued its scan (no worker runs here); the test writes what a scan would have found.
    ScanSummary.objects.update_or_create(manifest=manifest, defaults={
        "status": ScanStatus.DONE, "critical": 1, "medium": 2})
    bob = f"bob:{PASSWORD}"
    assert inspect(clients, registry, bob).returncode == 0

    scan_policy.set_policy(alice, organization.namespace, "critical", False)
    after_the_cache_window(time.monotonic())
    denied = inspect(clients, registry, bob)
    assert denied.returncode != 0
    assert MESSAGE in denied.stderr, denied.stderr
    copied = clients.skopeo("copy", "--quiet", "--src-creds", bob, "--src-tls-verify=false",
                            f"docker://{registry.host}/acme/app:1", f"oci:{tmp_path / 'pulled'}:1", check=False)
    assert copied.returncode != 0 and MESSAGE in copied.stderr, copied.stderr
    assert inspect(clients, registry, CREDS).returncode == 0   # alice administers acme (an owner)

    scan_policy.clear_policy(alice, organization.namespace)
    after_the_cache_window(time.monotonic())
    allowed = inspect(clients, registry, bob)
    assert allowed.returncode == 0, allowed.stderr
    clients.skopeo("copy", "--quiet", "--src-creds", bob, "--src-tls-verify=false",
                   f"docker://{registry.host}/acme/app:1", f"oci:{tmp_path / 'pulled'}:1")
