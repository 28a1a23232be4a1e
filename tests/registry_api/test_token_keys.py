"""The token-signing key: shared by every node from the environment, generated into DATA_DIR otherwise, and
rotated without refusing the tokens the previous key signed."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from registry_api import tokens

ACCESS = [{"type": "repository", "name": "alice/app", "actions": ["pull"]}]


def private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_pem(private: str) -> str:
    key = serialization.load_pem_private_key(private.encode(), None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def node(settings, data_dir: Path, key: str = "", previous: str = "", previous_path: str = "") -> None:  # type: ignore[no-untyped-def]
    """Make this process one node: its own DATA_DIR, and the key settings it was started with (a fresh process
    has verified no tokens yet)."""
    tokens._verified.clear()
    settings.WHARF_TOKEN_KEY = key
    settings.WHARF_TOKEN_KEY_PATH = data_dir / "keys" / "token-signing.pem"
    settings.WHARF_TOKEN_PREVIOUS_KEY = previous
    settings.WHARF_TOKEN_PREVIOUS_KEY_PATH = previous_path


def issue() -> str:
    return tokens.issue("alice", ACCESS, credential="user:1")[0]


def test_without_a_key_each_data_dir_generates_its_own_and_keeps_it(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    node(settings, tmp_path / "one")
    token = issue()
    assert (tmp_path / "one" / "keys" / "token-signing.pem").exists()
    assert tokens.verify(token).subject == "alice"

    node(settings, tmp_path / "two")

    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token)


def test_nodes_given_the_same_key_accept_each_others_tokens_and_write_no_key_file(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    shared = private_pem()
    node(settings, tmp_path / "one", key=shared)
    token = issue()

    node(settings, tmp_path / "two", key=shared)

    assert tokens.verify(token).subject == "alice"
    assert not (tmp_path / "one" / "keys").exists() and not (tmp_path / "two" / "keys").exists()


def test_a_key_on_one_environment_line_with_escaped_newlines_works(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    shared = private_pem()
    node(settings, tmp_path, key=shared)
    token = issue()

    node(settings, tmp_path, key=shared.replace("\n", "\\n"))

    assert tokens.verify(token).subject == "alice"


def test_in_a_rotation_the_previous_keys_tokens_still_work_and_new_ones_use_the_new_key(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old, new = private_pem(), private_pem()
    node(settings, tmp_path, key=old)
    before, refresh = issue(), tokens.issue_refresh("alice", "user:1")

    node(settings, tmp_path, key=new, previous=old)
    after = issue()

    assert tokens.verify(before).subject == "alice"
    assert tokens.verify_refresh(refresh) == ("alice", "user:1")
    assert jwt.get_unverified_header(after)["kid"] == tokens.keyring().kid != jwt.get_unverified_header(before)["kid"]
    jwt.decode(after, serialization.load_pem_private_key(new.encode(), None).public_key(), algorithms=["RS256"],
               options={"verify_aud": False})


def test_the_previous_key_may_be_only_its_public_half_in_a_file(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old, new = private_pem(), private_pem()
    node(settings, tmp_path, key=old)
    before = issue()
    (tmp_path / "previous.pem").write_text(public_pem(old))

    node(settings, tmp_path, key=new, previous_path=str(tmp_path / "previous.pem"))

    assert tokens.verify(before).subject == "alice"


def test_a_token_without_a_key_id_is_tried_against_each_key(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old, new = private_pem(), private_pem()
    node(settings, tmp_path, key=new, previous=old)
    claims = jwt.decode(issue(), options={"verify_signature": False})
    unlabelled = jwt.encode(claims, serialization.load_pem_private_key(old.encode(), None), algorithm="RS256")

    assert "kid" not in jwt.get_unverified_header(unlabelled)
    assert tokens.verify(unlabelled).subject == "alice"


def test_once_the_rotation_ends_the_previous_keys_tokens_are_refused(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old, new = private_pem(), private_pem()
    node(settings, tmp_path, key=old)
    before, refresh = issue(), tokens.issue_refresh("alice", "user:1")

    node(settings, tmp_path, key=new)

    with pytest.raises(tokens.InvalidToken):
        tokens.verify(before)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify_refresh(refresh)


def test_a_token_naming_an_unknown_key_and_signed_by_none_is_refused(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    node(settings, tmp_path, key=private_pem())
    claims = jwt.decode(issue(), options={"verify_signature": False})
    forged = jwt.encode(claims, serialization.load_pem_private_key(private_pem().encode(), None), algorithm="RS256",
                        headers={"kid": "0123456789abcdef"})

    with pytest.raises(tokens.InvalidToken):
        tokens.verify(forged)
