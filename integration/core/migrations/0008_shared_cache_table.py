"""The table of the ``shared`` database cache (Dinero tokens, documents read once for a follow-up).

``migrate`` is the one step every deploy, ``make run`` and CI already take, so the cache table is
created here rather than by a separate ``createcachetable`` someone could forget. Nothing happens
when the shared cache is not a database cache, or when its table exists.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):

    dependencies = [
        ("integration", "0007_webhook_deliveries_keep_every_update"),
    ]

    operations = [
        migrations.RunPython(create_cache_tables, migrations.RunPython.noop),
    ]
