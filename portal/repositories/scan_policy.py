"""The security policy: pulls of images whose scan found something at or above a severity (or, if asked, of
images not scanned yet) are denied to everyone but the repository's admins.

A policy is set on a namespace (the default of its repositories) or on one repository, whose own policy then
overrides its namespace's, "off" included. Pushes are never affected; admins still pull, to inspect.

Severities follow scanning.severity: Unknown < Negligible < Low < Medium < High < Critical. "At or above Low"
counts Low, Medium, High and Critical findings; Unknown and Negligible findings never block (an advisory of
unknown severity is its own level below Low, not a guess at one).

"Not scanned" means no summary yet, queued, scanning, or failed; "unsupported" (an artifact that is no image,
such as an SBOM) is never blocked. An index is checked by its own summary when it has one; without one it is
let through, since each of its platform manifests is checked when the client pulls it by digest.

Cost: the manifest GET is the registry's hottest path, so the effective policy of each repository is cached in
the process for WHARF_SCAN_POLICY_CACHE_SECONDS (5 s): a pull where no policy applies costs one dictionary
lookup and no statement. A change clears this process's cache at once; other processes (other gunicorn
workers, other nodes) apply it within that many seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from portal import access, audit
from portal.access import Principal, Role
from portal.accounts.models import Namespace
from portal.errors import Invalid
from portal.repositories.models import BlockSeverity, Repository, ScanPolicy
from registry_api.content import INDEXES
from registry_api.queries import ManifestRow, RepositoryRow
from scanning.policy_data import ScanResult, summary
from scanning.severity import Severity

NOT_SCANNED = {"queued": "is queued for scanning", "scanning": "is being scanned", "failed": "could not be scanned"}
MAX_CACHED = 10_000   # repositories; past that the cache starts again (a rare, cheap refill)


@dataclass(frozen=True)
class Policy:
    """The policy in force for a repository: `owner` names where it was set ("acme/app" or "acme")."""

    owner: str
    block_at: Severity | None
    block_unscanned: bool

    def refusal(self, scan: ScanResult | None, is_index: bool) -> str | None:
        """Why this policy refuses an image with this scan, or None."""
        if scan is None or scan.status in NOT_SCANNED:
            if not self.block_unscanned or (scan is None and is_index):
                return None
            return f"the image {NOT_SCANNED[scan.status] if scan else 'has not been scanned'}"
        if self.block_at is None or scan.status != "done":
            return None
        found = scan.at_or_above(self.block_at)
        if not found:
            return None
        counts = ", ".join(f"{count} {level.name.lower()}" for level, count in found.items())
        return f"the image has findings of severity {self.block_at.label} or above ({counts})"


# --- Settings: read and change ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """A namespace's or repository's policy as its settings show it."""

    block_severity: str             # a BlockSeverity value
    block_unscanned: bool
    own: bool                       # set here (a repository's own overrides its namespace's)
    inherited_from: str | None      # a repository without its own: the namespace whose policy it follows


def setting_of(owner: Namespace | Repository) -> Setting:
    row = ScanPolicy.objects.filter(**_owner_filter(owner)).first()
    if row is not None:
        return Setting(row.block_severity, row.block_unscanned, True, None)
    if isinstance(owner, Repository):
        inherited = ScanPolicy.objects.filter(namespace_id=owner.namespace_id).first()
        if inherited is not None:
            return Setting(inherited.block_severity, inherited.block_unscanned, False, owner.namespace.name)
    return Setting(BlockSeverity.OFF, False, False, None)


def effective_policy(repository: RepositoryRow | Repository) -> Policy | None:
    """The policy in force (the repository's own, else its namespace's), or None when nothing is blocked.
    One statement."""
    rows = ScanPolicy.objects.filter(Q(repository_id=repository.pk) | Q(namespace_id=repository.namespace_id))
    found = {repository_id is not None: (severity, unscanned) for repository_id, severity, unscanned
             in rows.values_list("repository_id", "block_severity", "block_unscanned")}
    if not found:
        return None
    own = True in found
    severity, unscanned = found[own]
    if severity == BlockSeverity.OFF and not unscanned:
        return None
    owner = repository.full_name if own else repository.full_name.split("/", 1)[0]
    block_at = None if severity == BlockSeverity.OFF else Severity[str(severity).upper()]
    return Policy(owner, block_at, bool(unscanned))


def set_policy(principal: Principal, owner: Namespace | Repository, block_severity: Any, block_unscanned: bool,
               client_ip: str | None = None) -> ScanPolicy:
    """Set the policy of a namespace or a repository (the caller checked that the principal administers it)."""
    if block_severity not in BlockSeverity.values:
        raise Invalid("The severity is one of off, low, medium, high, critical.", "block_severity")
    policy, _ = ScanPolicy.objects.update_or_create(**_owner_filter(owner), defaults={
        "block_severity": block_severity, "block_unscanned": bool(block_unscanned)})
    _record(principal, owner, client_ip, block_severity=block_severity, block_unscanned=bool(block_unscanned))
    return policy


def clear_policy(principal: Principal, owner: Namespace | Repository, client_ip: str | None = None) -> None:
    """Remove the policy set here: a repository follows its namespace's again; a namespace blocks nothing."""
    deleted, _ = ScanPolicy.objects.filter(**_owner_filter(owner)).delete()
    if deleted:
        _record(principal, owner, client_ip, cleared=True)


def _owner_filter(owner: Namespace | Repository) -> dict[str, Any]:
    return {"repository": owner} if isinstance(owner, Repository) else {"namespace": owner}


def _record(principal: Principal, owner: Namespace | Repository, client_ip: str | None, **detail: Any) -> None:
    forget()
    transaction.on_commit(forget)   # again once committed: a pull meanwhile may have cached the old policy
    if isinstance(owner, Repository):
        audit.record("scan_policy", principal, client_ip=client_ip, repository=owner, target=owner.full_name,
                     **detail)
    else:
        audit.record("scan_policy", principal, client_ip=client_ip, namespace_id=owner.pk, target=owner.name,
                     **detail)


# --- The pull check (the registry's Gate.pull_denied) ----------------------------------------------------------

_cache: dict[int, tuple[float, Policy | None]] = {}


def forget() -> None:
    """Drop this process's cached policies (every change does)."""
    _cache.clear()


def cached_policy(repository: RepositoryRow) -> Policy | None:
    now = time.monotonic()
    hit = _cache.get(repository.id)
    if hit is not None and hit[0] > now:
        return hit[1]
    policy = effective_policy(repository)
    if len(_cache) >= MAX_CACHED:
        _cache.clear()
    _cache[repository.id] = (now + settings.WHARF_SCAN_POLICY_CACHE_SECONDS, policy)
    return policy


def pull_denied(principal: Principal, repository: RepositoryRow, manifest: ManifestRow) -> str | None:
    """Why the policy denies this pull, or None. No statement when no policy applies; the scan summary, then
    the principal's role, are read only as far as a refusal needs them."""
    policy = cached_policy(repository)
    if policy is None:
        return None
    reason = policy.refusal(summary(manifest.id), manifest.media_type in INDEXES)
    if reason is None or access.repository_role(principal, repository, repository.full_name) >= Role.ADMIN:
        return None
    return f"denied by the security policy of {policy.owner}: {reason}; an admin can pull it or change the policy"
