"""Fixtures the repository service tests share: alice's repository and alice as a principal."""

from __future__ import annotations

import pytest

from portal.access import Principal
from tests.factories import make_repository


@pytest.fixture
def repo(alice):  # type: ignore[no-untyped-def]
    return make_repository("alice/app")


@pytest.fixture
def as_alice(alice):  # type: ignore[no-untyped-def]
    return Principal.for_user(alice)
