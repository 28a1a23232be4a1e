"""The "Security policy" section of a repository's settings and of an organization's defaults page: its form,
its two actions (save, follow the organization's again / clear) and what the section shows."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest

from portal.accounts.models import Namespace
from portal.client_address import client_ip
from portal.repositories import scan_policy
from portal.repositories.models import BlockSeverity, Repository
from portal.web.views.common import Failed, act, attempt, principal

SEVERITIES = [("off", "Off: block nothing"), ("low", "Low or above"), ("medium", "Medium or above"),
              ("high", "High or above"), ("critical", "Critical only")]
assert [value for value, _ in SEVERITIES] == BlockSeverity.values


class ScanPolicyForm(forms.Form):
    block_severity = forms.ChoiceField(label="Block pulls of images with findings of severity", choices=SEVERITIES)
    block_unscanned = forms.BooleanField(label="Also block images not scanned yet (queued, scanning or failed)",
                                         required=False)


def context(owner: Namespace | Repository) -> dict[str, Any]:
    setting = scan_policy.setting_of(owner)
    form = ScanPolicyForm(initial={"block_severity": setting.block_severity,
                                   "block_unscanned": setting.block_unscanned})
    return {"scan_policy": setting, "scan_policy_form": form}


def save(request: HttpRequest, owner: Namespace | Repository) -> Failed | None:
    form = ScanPolicyForm(request.POST)
    failed = attempt("scan_policy_form", form, lambda: scan_policy.set_policy(
        principal(request), owner, form.cleaned_data["block_severity"], form.cleaned_data["block_unscanned"],
        client_ip=client_ip(request)))
    if failed is None:
        messages.success(request, f"Saved the security policy of {owner}.")
    return failed


def clear(request: HttpRequest, owner: Namespace | Repository) -> None:
    done = (f"{owner} follows the security policy of {owner.namespace} again." if isinstance(owner, Repository)
            else f"{owner} no longer blocks pulls.")
    act(request, lambda: scan_policy.clear_policy(principal(request), owner, client_ip=client_ip(request)), done)
