"""Secrets are encrypted at rest with the dedicated key list and can be rotated."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db

from accounts import crypto
from accounts.models import Connection


def _raw_column(pk: int, column: str) -> str:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM accounts_connection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def fresh_keys(settings):
    crypto.fernet_for.cache_clear()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    yield settings
    crypto.fernet_for.cache_clear()


def test_round_trip_returns_plaintext(fresh_keys, db):
    c = Connection(name="A")
    c.set_secret("rackbeat_api_token", "eyJ-rackbeat-token")
    c.save()
    assert Connection.objects.get(pk=c.pk).rackbeat_api_token == "eyJ-rackbeat-token"


def test_raw_column_holds_no_plaintext(fresh_keys, db):
    c = Connection(name="A")
    c.set_secret("dinero_api_key", "very-secret-api-key")
    c.save()
    raw = _raw_column(c.pk, "dinero_api_key")
    assert "very-secret-api-key" not in raw
    assert raw.startswith("gAAAA")  # a Fernet token


def test_empty_secret_stays_empty(fresh_keys, db):
    c = Connection.objects.create(name="A")
    assert _raw_column(c.pk, "rackbeat_api_token") == ""
    assert Connection.objects.get(pk=c.pk).rackbeat_api_token == ""


def test_rotation_re_encrypts_under_the_newest_key(fresh_keys, db):
    old_key = fresh_keys.FIELD_ENCRYPTION_KEYS[0]
    c = Connection(name="A")
    c.set_secret("rackbeat_api_token", "token-before-rotation")
    c.save()
    before = _raw_column(c.pk, "rackbeat_api_token")

    new_key = Fernet.generate_key().decode()
    fresh_keys.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    crypto.fernet_for.cache_clear()
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))

    after = _raw_column(c.pk, "rackbeat_api_token")
    assert after != before
    assert Fernet(new_key.encode()).decrypt(after.encode()) == b"token-before-rotation"

    # With the old key removed, the secret still decrypts.
    fresh_keys.FIELD_ENCRYPTION_KEYS = [new_key]
    crypto.fernet_for.cache_clear()
    assert Connection.objects.get(pk=c.pk).rackbeat_api_token == "token-before-rotation"


def test_wrong_key_gives_an_error_without_the_secret(fresh_keys, db):
    c = Connection(name="A")
    c.set_secret("rackbeat_api_token", "token-xyz")
    c.save()
    fresh_keys.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    crypto.fernet_for.cache_clear()
    with pytest.raises(crypto.DecryptionError) as info:
        Connection.objects.get(pk=c.pk)
    assert "token-xyz" not in str(info.value)


def test_secrets_are_not_in_history(connection):
    connection.set_secret("rackbeat_api_token", "rotated-token-value")
    connection.save()
    record = connection.history.first()
    assert not hasattr(record, "rackbeat_api_token")
    assert not hasattr(record, "dinero_api_key")
