"""Fixtures the registry's service tests share: alice's repository."""

from __future__ import annotations

import pytest

from tests.factories import make_repository


@pytest.fixture
def repo(alice):  # type: ignore[no-untyped-def]
    return make_repository("alice/app")
