"""The portal's answers to the registry's questions (registry_api.gate): credentials, roles, the catalog, a
repository made by a first push, the security policy of pulls, the audit log. Installed when Django starts (apps.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from portal import access, audit
from portal.access import ANONYMOUS
from portal.accounts import credentials
from portal.accounts.models import Namespace
from portal.repositories import scan_policy, services
from registry_api import gate
from registry_api.queries import ManifestRow, RepositoryRow


def _principal(principal: gate.Principal) -> access.Principal:
    # The registry hands back what this gate gave it.
    assert isinstance(principal, access.Principal)
    return principal


class PortalGate:
    def anonymous(self) -> gate.Principal:
        return ANONYMOUS

    def authenticate(self, client_ip: str | None, username: str, secret: str) -> gate.Principal:
        return credentials.authenticate(client_ip, username, secret)

    def principal_for(self, credential: str) -> gate.Principal | None:
        return credentials.live_principal(credential)

    def credential_of(self, principal: gate.Principal) -> str:
        return credentials.credential_of(_principal(principal))

    def allowed_actions(self, principal: gate.Principal, repository: RepositoryRow | None, full_name: str,
                        requested: Iterable[str]) -> list[str]:
        role = access.repository_role(_principal(principal), repository, full_name)
        return access.allowed_actions(role, list(requested))

    def readable_names(self, principal: gate.Principal, after: str | None, limit: int | None) -> list[str]:
        names = (access.readable_repositories(_principal(principal)).order_by("full_name")
                 .values_list("full_name", flat=True))
        if after:
            names = names.filter(full_name__gt=after)
        return list(names if limit is None else names[:limit])

    def create_repository(self, principal: gate.Principal, full_name: str,
                          client_ip: str | None) -> RepositoryRow | None:
        namespace_name, name = full_name.split("/", 1)
        namespace = Namespace.objects.filter(name=namespace_name).first()
        if namespace is None:
            return None
        repository = services.create_repository(_principal(principal), namespace, name, client_ip=client_ip,
                                                exist_ok=True)
        return RepositoryRow(repository.pk, repository.namespace_id, repository.name, repository.full_name,
                             repository.visibility)

    def pull_denied(self, principal: gate.Principal, repository: RepositoryRow,
                    manifest: ManifestRow) -> str | None:
        return scan_policy.pull_denied(_principal(principal), repository, manifest)

    def record(self, kind: str, principal: gate.Principal, *, client_ip: str | None, repository: RepositoryRow,
               target: str, soon: bool = False, **detail: Any) -> None:
        write = audit.record_soon if soon else audit.record
        write(kind, _principal(principal), client_ip=client_ip, repository=repository, target=target, **detail)
