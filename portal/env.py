"""Reading configuration from the environment, with `*_FILE` variants for secrets."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def env_str(name: str, default: str = "") -> str:
    """The variable's value, or the contents of the file named by NAME_FILE, or the default."""
    if (path := os.environ.get(f"{name}_FILE")) is not None:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name, "")
    if value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env_str(name, "")
    return int(value) if value.strip() else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name, "")
    return [item.strip() for item in value.split(",") if item.strip()] if value else default


def write_once(path: Path, make: Callable[[], bytes]) -> bytes:
    """Return the file's bytes, creating it with `make()` first if it does not exist.

    Several processes may start at once (gunicorn workers, the Celery worker): the file is written to a
    temporary name and hard-linked into place, so exactly one version wins and every process reads it.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(make())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()
