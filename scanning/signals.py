"""What scanning tells the rest of Wharf (the notifications issue listens); sent after the commit."""

from django.dispatch import Signal

# sender=Finding, finding=Finding, manifest_id=int, repository_id=int, advisory=str (OSV id),
# merge_key=str (the CVE, usually), package=str, version=str, severity=scanning.severity.Severity,
# fixed_version=str ("" when no fix is known). Sent for a finding that a change of the advisory store made
# new on an image scanned before, at or above WHARF_SCAN_ALERT_SEVERITY.
vulnerability_found = Signal()
