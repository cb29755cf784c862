"""A model field that stores text encrypted and gives plaintext back in Python."""

from __future__ import annotations

from typing import Any

from django.db import models

from accounts import crypto


class EncryptedTextField(models.TextField):
    """Text encrypted with the dedicated key list before it reaches the database.

    The column holds a Fernet token; the empty string stays empty so "not set" is cheap to test.
    The value never appears in ``repr`` of a model (Django does not include field values there)
    and the admin renders it write-only (see ``integration.console.connection_admin.SecretInput``).
    """

    description = "Encrypted text"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value in (None, ""):
            return value
        return crypto.decrypt(value)

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return crypto.encrypt(value)
