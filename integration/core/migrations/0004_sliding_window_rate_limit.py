"""The shared rate limit becomes a sliding-window log per key (was fixed calendar minutes)."""

from django.db import migrations, models


def forget_fixed_windows(apps, schema_editor):
    # The old rows counted calendar minutes and cannot be turned into a log; at most one minute
    # of history is lost, and a running penalty is re-learnt from the vendor's next 429.
    apps.get_model("integration", "RateLimitWindow").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("integration", "0003_operation_name_trigram_index"),
    ]

    operations = [
        migrations.RunPython(forget_fixed_windows, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="ratelimitwindow", name="unique_rate_window"),
        migrations.RemoveField(model_name="ratelimitwindow", name="window_start"),
        migrations.RemoveField(model_name="ratelimitwindow", name="count"),
        migrations.AddField(
            model_name="ratelimitwindow", name="grants", field=models.TextField(default="[]"),
        ),
        migrations.AddField(
            model_name="ratelimitwindow", name="version", field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="ratelimitwindow", name="key", field=models.CharField(max_length=120, unique=True),
        ),
    ]
