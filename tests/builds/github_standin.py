"""A GitHub stand-in for build tests: a loopback HTTP server that speaks GitHub's OAuth flow and the API calls
builds make, and remembers what was made there.

The fixture `github_api` is registered for every test by tests/conftest.py; ask for it by name. It sets
WHARF_GITHUB_URL, WHARF_GITHUB_API_URL and the OAuth app's key and secret (CLIENT_ID, CLIENT_SECRET).

    github_api.add_repo("acme/app", private=True)   # -> StandInRepo; its owner becomes an organization unless it
                                                    #    is an account's login; admin=False: the user may not admin it
    github_api.connect(client, alice)               # the real connect-for-builds dance through Django's client
                                                    # (logs alice in; a 302 to `next` when it worked)
    github_api.connect_directly(alice)              # the same UserSocialAuth row, made directly (no HTTP)
    github_api.sign_in(client)                      # a plain "Sign in with GitHub" (small scopes); the response
    github_api.hooks("acme/app")                    # [{"id", "name", "active", "events", "config": {url,
                                                    #   content_type, secret, insecure_ssl}}] as posted
    github_api.keys("acme/app")                     # [{"id", "title", "key", "read_only"}] as posted
    github_api.fail(403, "/hooks", method="POST")   # API calls matching answer 403 from now on (401/403/404/422/5xx)
    github_api.heal()                               # and answer normally again
    github_api.page_size = 2                        # at most 2 items a page (to see pagination with few items)
    github_api.authorized_scopes                    # the scope sets each authorize request asked for, in order
    github_api.requests                             # [(method, path with query)] of every request, in order

Accounts: `login` ("octo-cat") is the GitHub account that consents unless connect(..., login="other") names
another; each login has its own GitHub id, so two Wharf users can each connect their own. Tokens are random and
tied to their login and granted scope (`tokens`); private repositories and hooks or keys need the `repo` scope
(or admin:repo_hook for hooks), as on GitHub, which answers 404 otherwise.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.test import Client
from social_django.models import UserSocialAuth

from portal.accounts.github import BUILD_SCOPES
from portal.accounts.models import User

CLIENT_ID, CLIENT_SECRET = "standin-client-id", "standin-client-secret"
SIGN_IN_SCOPES = ["read:user", "user:email"]


@dataclass
class StandInRepo:
    full_name: str
    private: bool = False
    admin: bool = True
    default_branch: str = "main"
    id: int = 0
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    keys: dict[int, dict[str, Any]] = field(default_factory=dict)
    clone_url: str = ""   # what GitHub answers as the https clone URL (a test's file:// repository, to build it)

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]

    def document(self, base: str) -> dict[str, Any]:
        return {"id": self.id, "full_name": self.full_name, "name": self.full_name.split("/")[1],
                "owner": {"login": self.owner}, "private": self.private, "default_branch": self.default_branch,
                "clone_url": self.clone_url or f"{base}/{self.full_name}.git",
                "ssh_url": f"git@github.test:{self.full_name}.git",
                "permissions": {"admin": self.admin, "push": self.admin, "pull": True}}


@dataclass
class GithubStandIn:
    url: str = ""
    login: str = "octo-cat"
    email: str = "octo@example.com"
    orgs: list[str] = field(default_factory=list)
    repos: dict[str, StandInRepo] = field(default_factory=dict)
    page_size: int = 100
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)      # token -> (login, granted scope)
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)       # OAuth code -> (login, scope)
    failures: list[tuple[int, str, str]] = field(default_factory=list)    # (status, method, path part)
    authorized_scopes: list[set[str]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))

    # --- the world -----------------------------------------------------------------------------------------

    def add_repo(self, full_name: str, *, private: bool = False, admin: bool = True,
                 default_branch: str = "main", clone_url: str = "") -> StandInRepo:
        repo = StandInRepo(full_name, private=private, admin=admin, default_branch=default_branch, id=next(self._ids),
                           clone_url=clone_url)
        self.repos[full_name.lower()] = repo
        if repo.owner.lower() != self.login.lower() and repo.owner not in self.orgs:
            self.orgs.append(repo.owner)
        return repo

    def hooks(self, full_name: str) -> list[dict[str, Any]]:
        return list(self.repos[full_name.lower()].hooks.values())

    def keys(self, full_name: str) -> list[dict[str, Any]]:
        return list(self.repos[full_name.lower()].keys.values())

    def fail(self, status: int, path: str = "", method: str = "") -> None:
        self.failures.append((status, method.upper(), path))

    def heal(self) -> None:
        self.failures.clear()

    @staticmethod
    def uid(login: str) -> int:
        return 500000 + sum(ord(c) * 31 ** i for i, c in enumerate(login.lower())) % 400000

    def issue(self, login: str, scope: str) -> str:
        token = f"gho_{secrets.token_hex(16)}"
        self.tokens[token] = (login, scope)
        return token

    # --- connecting, through Django's client or directly -----------------------------------------------------

    def connect(self, client: Client, user: User, *, login: str | None = None, next: str = "/") -> Any:  # noqa: A002
        """Log `user` in, POST the builds page's connect form (for=builds), consent on the stand-in's authorize page
        as `login`, and follow GitHub's redirect back to /complete/github/; the completion's response."""
        client.force_login(user)
        begun = client.post("/login/github/", {"for": "builds", "next": next})
        assert begun.status_code == 302, begun
        return self._consent_and_complete(client, begun["Location"], login or self.login)

    def sign_in(self, client: Client, *, login: str | None = None) -> Any:
        """A plain sign-in (or, when the client is logged in, a plain connect) with the small scopes."""
        begun = client.post("/login/github/")
        assert begun.status_code == 302, begun
        return self._consent_and_complete(client, begun["Location"], login or self.login)

    def _consent_and_complete(self, client: Client, authorize: str, login: str) -> Any:
        assert authorize.startswith(f"{self.url}/login/oauth/authorize?"), authorize
        consented = requests.get(authorize, params={"as": login}, allow_redirects=False, timeout=10)
        back = urlsplit(consented.headers["Location"])
        return client.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})

    def connect_directly(self, user: User, *, login: str | None = None,
                         scope: str = ",".join([*BUILD_SCOPES, *SIGN_IN_SCOPES])) -> UserSocialAuth:
        """The UserSocialAuth row a connect for builds leaves, made without HTTP."""
        login = login or self.login
        token = self.issue(login, scope)
        data = {"login": login, "id": self.uid(login), "access_token": token, "token_type": "bearer",
                "scope": scope, "builds_access_token": token, "builds_scope": scope}
        social, _ = UserSocialAuth.objects.update_or_create(provider="github", uid=str(self.uid(login)),
                                                            defaults={"user": user, "extra_data": data})
        return social


def _handler(github: GithubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            github.requests.append((method, self.path))
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/login/oauth/authorize" and method == "GET":
                return self._authorize(query)
            if parts.path == "/login/oauth/access_token" and method == "POST":
                return self._token({k: v[0] for k, v in parse_qs(self._body().decode()).items()})
            body = json.loads(self._body() or b"null") if method == "POST" else None
            auth = self.headers.get("Authorization", "")
            held = github.tokens.get(auth.split(" ", 1)[-1]) if auth.split(" ")[0] in ("Bearer", "token") else None
            if held is None:
                return self._reply(401, {"message": "Bad credentials"})
            for status, fail_method, part in github.failures:
                if (not fail_method or fail_method == method) and part in parts.path:
                    return self._reply(status, {"message": _REASONS.get(status, "Server Error")})
            self._api(method, parts.path, query, body, held)

        def _authorize(self, query: dict[str, str]) -> None:
            scope = query.get("scope", "")
            github.authorized_scopes.append({s for s in scope.split(",") if s})
            code = secrets.token_hex(8)
            github.codes[code] = (query.get("as") or github.login, scope)
            back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
            self._reply(302, None, {"Location": back})

        def _token(self, form: dict[str, str]) -> None:
            granted = github.codes.pop(form.get("code", ""), None)
            if granted is None or form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return self._reply(200, {"error": "bad_verification_code"})   # as GitHub does
            login, scope = granted
            self._reply(200, {"access_token": github.issue(login, scope), "token_type": "bearer", "scope": scope})

        def _api(self, method: str, path: str, query: dict[str, str], body: Any, held: tuple[str, str]) -> None:
            login, scope = held
            scopes = set(scope.split(","))
            sees_private = "repo" in scopes
            if method == "GET" and path == "/user":
                return self._reply(200, {"login": login, "id": github.uid(login), "name": login, "email": None})
            if method == "GET" and path == "/user/emails":
                return self._reply(200, [{"email": github.email, "primary": True, "verified": True}])
            if method == "GET" and path == "/user/orgs":
                return self._page(path, query, [{"login": o} for o in github.orgs])
            visible = [r for r in github.repos.values() if sees_private or not r.private]
            if method == "GET" and path == "/user/repos":
                kinds = set(query.get("affiliation", "owner,collaborator,organization_member").split(","))
                mine = [r for r in visible if ("owner" in kinds and r.owner.lower() == login.lower())
                        or ("organization_member" in kinds and r.owner in github.orgs)]
                return self._page(path, query, [r.document(github.url) for r in mine])
            if method == "GET" and path.startswith("/orgs/") and path.endswith("/repos"):
                org = path.split("/")[2]
                if org not in github.orgs:
                    return self._reply(404, {"message": "Not Found"})
                return self._page(path, query, [r.document(github.url) for r in visible if r.owner == org])
            if path.startswith("/repos/"):
                return self._repo(method, path.split("/")[2:], body, scopes, visible)
            self._reply(404, {"message": "Not Found"})

        def _repo(self, method: str, parts: list[str], body: Any, scopes: set[str],
                  visible: list[StandInRepo]) -> None:
            repo = next((r for r in visible if r.full_name.lower() == "/".join(parts[:2]).lower()), None)
            if repo is None or len(parts) < 2:
                return self._reply(404, {"message": "Not Found"})
            rest = parts[2:]
            if not rest and method == "GET":
                return self._reply(200, repo.document(github.url))
            may = repo.admin and ("repo" in scopes or (rest[:1] == ["hooks"] and "admin:repo_hook" in scopes))
            if not rest or rest[0] not in ("hooks", "keys") or not may:
                return self._reply(404, {"message": "Not Found"})
            store = repo.hooks if rest[0] == "hooks" else repo.keys
            if method == "POST" and len(rest) == 1:
                ident = next(github._ids)
                store[ident] = {"id": ident, **body}
                return self._reply(201, store[ident])
            if method == "DELETE" and len(rest) == 2 and rest[1].isdigit() and store.pop(int(rest[1]), None):
                return self._reply(204)
            self._reply(404, {"message": "Not Found"})

        def _page(self, path: str, query: dict[str, str], items: list[dict[str, Any]]) -> None:
            size = min(int(query.get("per_page") or 30), 100, github.page_size)
            page = int(query.get("page") or 1)
            headers = {}
            if page * size < len(items):
                headers["Link"] = f'<{github.url}{path}?{urlencode({**query, "page": page + 1})}>; rel="next"'
            self._reply(200, items[(page - 1) * size:page * size], headers)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


_REASONS = {401: "Bad credentials", 403: "Must have admin rights to Repository.", 404: "Not Found",
            422: "Validation Failed", 500: "Server Error", 502: "Bad Gateway"}


@pytest.fixture
def github_api(settings: Any) -> Iterator[GithubStandIn]:
    standin = GithubStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.WHARF_GITHUB_URL = settings.WHARF_GITHUB_API_URL = standin.url
    settings.SOCIAL_AUTH_GITHUB_KEY, settings.SOCIAL_AUTH_GITHUB_SECRET = CLIENT_ID, CLIENT_SECRET
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
