"""Queued tasks and schedules under the names of ``integration.tasks``.

Every django-q2 entry point now lives in ``integration.tasks``. Schedules and tasks still queued
(the broker's ``OrmQ`` rows, signed pickles) that name an entry point by its old module path are
rewritten, so nothing queued before the upgrade fails after it. The recurring schedules are also
corrected by name after every migrate (``integration.core.schedules``); this covers the one-off
ones (a reconciliation's e-mail) and the queue.
"""

from django.db import migrations

# Frozen here: a migration must not depend on code that may change later.
RENAMED = {
    "integration.dinero_poll.poll_all_connections": "integration.tasks.fetch_dinero_invoices",
    "integration.alerts.send_daily_digests": "integration.tasks.send_daily_digests",
    "integration.retention.prune_all": "integration.tasks.prune_http_exchanges",
    "mappings.reference.refresh_all": "integration.tasks.refresh_reference_data",
    "integration.reconciliation.reconcile_last_month": "integration.tasks.reconcile_last_month",
    "integration.reconciliation.run_task": "integration.tasks.run_reconciliation",
}


def rename(apps, schema_editor):
    # Django requires this import here: django-q2's signing reads its settings when imported,
    # and a migration module is imported before every app is ready.
    from django_q.signing import SignedPackage

    Schedule = apps.get_model("django_q", "Schedule")
    OrmQ = apps.get_model("django_q", "OrmQ")
    for old, new in RENAMED.items():
        Schedule.objects.filter(func=old).update(func=new)
    for queued in OrmQ.objects.all().iterator():
        try:
            task = SignedPackage.loads(queued.payload)
        except Exception:  # noqa: BLE001 - a payload this installation cannot read is left as it is
            continue
        if isinstance(task, dict) and task.get("func") in RENAMED:
            task["func"] = RENAMED[task["func"]]
            queued.payload = SignedPackage.dumps(task)
            queued.save(update_fields=["payload"])


class Migration(migrations.Migration):
    dependencies = [
        ("integration", "0014_start_sync_records"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(rename, migrations.RunPython.noop)]
