"""The registry's one door to the people side of Wharf: who a credential proves, what they may do in a
repository, a repository made by a first push, and the audit log.

The registry knows accounts, roles and the log only through this interface. The portal plugs its answers in
when Django starts (`portal.repositories.apps`), so nothing in `registry_api` imports the portal's rooms and
the registry can be tested, reasoned about and benchmarked as the data plane it is. Kernel helpers that know no
app (`portal.db`, `portal.names`, `portal.errors`, ...) are imported directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from registry_api.queries import ManifestRow, RepositoryRow


class Principal(Protocol):
    """Whoever a request speaks for, as far as the registry needs to know (the portal's access.Principal)."""

    @property
    def kind(self) -> str: ...            # anonymous | user | robot | token

    @property
    def username(self) -> str: ...

    @property
    def user_id(self) -> int | None: ...

    @property
    def robot_id(self) -> int | None: ...

    @property
    def is_authenticated(self) -> bool: ...


class Gate(Protocol):
    def anonymous(self) -> Principal:
        """The principal of a request without credentials."""

    def authenticate(self, client_ip: str | None, username: str, secret: str) -> Principal:
        """The principal a password, robot token or API token proves; portal.errors.AuthenticationFailed or
        Throttled (a client that has failed too often) otherwise."""

    def principal_for(self, credential: str) -> Principal | None:
        """The principal a registry token's credential names, as things stand now; None when it no longer
        holds (user disabled, password changed, robot token regenerated, API token revoked or expired)."""

    def credential_of(self, principal: Principal) -> str:
        """What a registry token records of the credential it was issued for (checked again on every call)."""

    def allowed_actions(self, principal: Principal, repository: RepositoryRow | None, full_name: str,
                        requested: Iterable[str]) -> list[str]:
        """The registry actions (pull, push, delete, *) among `requested` that the principal holds on the
        repository `full_name` (`repository` is its row, None when it does not exist yet: then push means
        creating it by a first push)."""

    def readable_names(self, principal: Principal, after: str | None, limit: int | None) -> list[str]:
        """The catalog: full names of repositories the principal may read, in byte order, after `after`."""

    def create_repository(self, principal: Principal, full_name: str, client_ip: str | None) -> RepositoryRow | None:
        """Make the repository on its first push (the caller has checked that the principal may); None when its
        namespace does not exist."""

    def pull_denied(self, principal: Principal, repository: RepositoryRow, manifest: ManifestRow) -> str | None:
        """Why the repository's security policy denies this principal a pull of the manifest (a message for
        the client), or None when the pull may go ahead. Called on every manifest GET and HEAD: an answer
        where no policy applies must cost no statement."""

    def record(self, kind: str, principal: Principal, *, client_ip: str | None, repository: RepositoryRow,
               target: str, soon: bool = False, **detail: Any) -> None:
        """One audit log entry; `soon` batches it (pulls, on the hot path)."""


_installed: list[Gate] = []


def install(gate: Gate) -> None:
    """Plug in the people side (once, at start-up; a second call replaces the first, for tests)."""
    _installed[:] = [gate]


def gate() -> Gate:
    if not _installed:
        raise RuntimeError("no registry gate installed: the portal's repositories app installs it at start-up")
    return _installed[0]
