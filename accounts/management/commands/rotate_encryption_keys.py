"""Re-encrypt every stored secret under the newest key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.fields import EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypts every encrypted field under the first (newest) key in FIELD_ENCRYPTION_KEYS. "
        "Put the new key first, run this, then remove the old key."
    )

    def handle(self, *args, **options) -> None:
        total = 0
        for model in apps.get_models():
            columns = [f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            if not columns:
                continue
            with transaction.atomic():
                # Reading decrypts with whichever key fits; writing encrypts with the newest key.
                rows = model._base_manager.select_for_update().values_list("pk", *columns)
                for pk, *values in rows.iterator(chunk_size=500):
                    updates = {col: value for col, value in zip(columns, values, strict=True) if value}
                    if updates:
                        model._base_manager.filter(pk=pk).update(**updates)
                        total += 1
            self.stdout.write(f"{model._meta.label}: {', '.join(columns)}")
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} rows under the newest key."))
