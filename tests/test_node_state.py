"""What a web node keeps to itself: nothing another node needs. Sessions are database rows, the cache is Redis
when REDIS_URL is set, and SECRET_KEY from the environment wins over the node's DATA_DIR."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import IN_CI, ROOT

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


def on_a_node(tmp_path: Path, code: str, **env: str) -> str:
    """Run `code` in a fresh process with Wharf's settings and a DATA_DIR of its own; returns what it prints."""
    data_dir = tmp_path / uuid.uuid4().hex
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "SECRET_KEY_FILE")}
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={**base, "DJANGO_SETTINGS_MODULE": "portal.settings", "DATA_DIR": str(data_dir), **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_sessions_are_kept_in_the_database() -> None:
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"


def test_without_redis_each_process_has_its_own_memory_cache(tmp_path) -> None:  # type: ignore[no-untyped-def]
    backend = on_a_node(tmp_path, "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])")

    assert backend == "django.core.cache.backends.locmem.LocMemCache"


def test_with_redis_a_value_one_node_caches_is_read_by_another(tmp_path) -> None:  # type: ignore[no-untyped-def]
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:   # noqa: BLE001
        message = f"no Redis at {REDIS_URL}: {exc}"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    key = f"test-{uuid.uuid4().hex}"

    on_a_node(tmp_path, f"from django.core.cache import cache; cache.set({key!r}, 'from node one', 60)",
              REDIS_URL=REDIS_URL)
    seen = on_a_node(tmp_path, f"from django.core.cache import cache; print(cache.get({key!r})); cache.delete({key!r})",
                     REDIS_URL=REDIS_URL)

    assert seen == "from node one"


def test_nodes_given_secret_key_share_it_and_without_it_each_generates_its_own(tmp_path) -> None:  # type: ignore[no-untyped-def]
    show = "from django.conf import settings; print(settings.SECRET_KEY)"

    assert on_a_node(tmp_path, show, SECRET_KEY="shared-by-every-node") == "shared-by-every-node"
    assert on_a_node(tmp_path, show, SECRET_KEY="shared-by-every-node") == "shared-by-every-node"
    assert on_a_node(tmp_path, show) != on_a_node(tmp_path, show)
