"""The password hashes of the file realm: bcrypt as Elasticsearch reads it, made once, never truncating."""

from __future__ import annotations

import bcrypt
import pytest

from components.generated import PasswordHashProvider, crypto


def test_hashes_are_bcrypt_in_the_revision_elasticsearch_reads() -> None:
    """Elasticsearch's BCrypt (jBCrypt) accepts `$2a$` only; bcrypt's default is `$2b$`."""
    first, second = crypto.bcrypt_hash("s3cret-password"), crypto.bcrypt_hash("s3cret-password")
    assert first.startswith("$2a$10$") and len(first) == 60
    assert bcrypt.checkpw(b"s3cret-password", first.encode())
    assert not bcrypt.checkpw(b"another-password", first.encode())
    assert first != second, "salted: two hashes of one password differ"


def test_a_hash_is_made_once_and_replaced_only_with_its_password() -> None:
    provider = PasswordHashProvider()
    olds = provider.create({"password": "p" * 32}).outs or {}
    assert bcrypt.checkpw(b"p" * 32, olds["hash"].encode())
    assert not provider.diff("id", olds, {"password": "p" * 32}).changes, "no new salt on every up"
    diff = provider.diff("id", olds, {"password": "q" * 32})
    assert diff.changes and diff.replaces == ["password"]


@pytest.mark.parametrize(("password", "refused"), [("x" * 72, False), ("x" * 73, True), ("", True)])
def test_bcrypt_never_silently_cuts_a_password(password: str, refused: bool) -> None:
    failures = PasswordHashProvider().check({}, {"password": password}).failures
    assert bool(failures) is refused
