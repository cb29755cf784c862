from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    """The sync core: the ledger's models, the engine, the limiter and the API clients.

    Its label stays ``integration`` so the tables, migrations, content types and permissions
    (``integration.retry_syncoperation`` …) of every existing installation keep their names.
    """

    name = "integration.core"
    label = "integration"
    verbose_name = "Integration"

    def ready(self) -> None:
        # Django requires these imports here: the modules use models, which exist only once the
        # app registry is ready.
        from django_q.signals import post_spawn

        from integration.core import worker_health
        from integration.core.schedules import ensure_schedules

        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="integration-schedules")
        # Each django-q2 worker process beats (dead workers' claims come back within a minute),
        # and `qcluster` stops within Q_STOP_SECONDS of SIGTERM/SIGINT.
        post_spawn.connect(worker_health.start_heartbeat, dispatch_uid="integration-worker-heartbeat")
        worker_health.bound_cluster_stop()
